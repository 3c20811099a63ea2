package graph

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Keys of the metadata_props SetMetadata writes. Values are JSON except
// the version.
const (
	MetaLabels     = "labels"         // ["ant", "bee"], in output order
	MetaPreprocess = "preprocessing"  // modelpkg.Preprocess
	MetaBackbones  = "backbones"      // ["mobilenetv2-12-int8", ...]
	MetaVersion    = "autocv_version" // the trainer's version, e.g. "1.2.0"
)

// Metadata is what an exported model says about itself, so the file alone
// tells a reader its labels and how to feed it.
type Metadata struct {
	Labels     []string
	Preprocess modelpkg.Preprocess
	// Version is the autocv version; "" means buildinfo.String().
	Version string
}

// SetMetadata writes md and m.Backbones into the model's metadata_props
// (replacing those keys, keeping any others) and sets the producer to
// "autocv" at that version. On a model that ends in probabilities there
// must be one label per class.
func SetMetadata(m *Model, md Metadata) error {
	if m.Output == ProbabilityOutput && len(md.Labels) != m.Dim {
		return fmt.Errorf("graph: %d labels for a model with %d classes", len(md.Labels), m.Dim)
	}
	if md.Version == "" {
		md.Version = buildinfo.String()
	}
	labels, err := json.Marshal(orEmpty(md.Labels))
	if err != nil {
		return err
	}
	pre, err := json.Marshal(md.Preprocess)
	if err != nil {
		return err
	}
	bbs, err := json.Marshal(orEmpty(m.Backbones))
	if err != nil {
		return err
	}
	add := []*onnxpb.StringStringEntryProto{
		{Key: proto.String(MetaLabels), Value: proto.String(string(labels))},
		{Key: proto.String(MetaPreprocess), Value: proto.String(string(pre))},
		{Key: proto.String(MetaBackbones), Value: proto.String(string(bbs))},
		{Key: proto.String(MetaVersion), Value: proto.String(md.Version)},
	}
	props := slices.DeleteFunc(m.Proto.MetadataProps, func(e *onnxpb.StringStringEntryProto) bool {
		return slices.ContainsFunc(add, func(a *onnxpb.StringStringEntryProto) bool { return a.GetKey() == e.GetKey() })
	})
	m.Proto.MetadataProps = append(props, add...)
	m.Proto.ProducerName = proto.String("autocv")
	m.Proto.ProducerVersion = proto.String(md.Version)
	return nil
}

// ReadMetadata returns a model's metadata_props as a map.
func ReadMetadata(m *onnxpb.ModelProto) map[string]string {
	out := make(map[string]string, len(m.GetMetadataProps()))
	for _, e := range m.GetMetadataProps() {
		out[e.GetKey()] = e.GetValue()
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
