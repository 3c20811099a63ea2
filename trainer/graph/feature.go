package graph

import (
	"fmt"
	"slices"
	"strings"

	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// FeatureModel cuts the backbone model (its file's bytes) described by d at
// its pooled feature and returns the encoded model; see Features.
func FeatureModel(d backbone.Descriptor, model []byte) ([]byte, error) {
	m, err := Features(d, model)
	if err != nil {
		return nil, err
	}
	return m.Marshal()
}

// Features cuts the backbone model described by d at its pooled feature.
// The result's single output is FeatureOutput, float32 [N, d.Feature.Dim]:
// the feature tensor, flattened to two dimensions. A quantised backbone is
// computed in float (see dequantize), so its features do not depend on
// which int8 kernels the CPU has. The classifier and everything
// else the feature does not need is pruned. The input keeps its name and
// its batch dimension (dynamic, or the backbone's fixed batch).
//
// A model that is not ONNX fails with backbone.ErrNotONNX; one without the
// feature tensor, its dequantisation initializers or the input fails with
// backbone.ErrNoFeature; both errors name d.File.
func Features(d backbone.Descriptor, model []byte) (*Model, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	m, err := backbone.ParseModel(d.File, model)
	if err != nil {
		return nil, err
	}
	if err := d.CheckModel(d.File, m); err != nil {
		return nil, err
	}
	opset, err := checkOpset(m, d.File)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	if err := checkFree(g, d.File, prefix, FeatureOutput); err != nil {
		return nil, err
	}
	// Cut first, so only what the feature needs must have a float form.
	g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(d.Feature.Tensor)}}
	if err := prune(m, d.Input); err != nil {
		return nil, fmt.Errorf("%s: %w", d.File, err)
	}
	// int8 kernels answer differently per CPU; float ones do not (see
	// dequantize). The dequantised feature tensor is float already.
	floatName, err := dequantize(g, opset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.File, err)
	}
	feature := floatName(d.Feature.Tensor)
	// [N, Dim] stays [N, Dim]; a pooled [N, Dim, 1, 1] becomes [N, Dim].
	g.Node = append(g.Node, node("Flatten", prefix+"FlattenFeature", []string{feature}, []string{FeatureOutput}, attrInt("axis", 1)))
	batch := batchDim(graphInput(g, d.Input))
	g.Output = []*onnxpb.ValueInfoProto{tensorInfo(FeatureOutput, batch, d.Feature.Dim)}
	if err := prune(m, d.Input); err != nil {
		return nil, fmt.Errorf("%s: %w", d.File, err)
	}
	stamp(m)
	return &Model{
		Proto: m, Input: d.Input, Output: FeatureOutput, Dim: d.Feature.Dim,
		FixedBatch: fixedBatch(batch), Backbones: []string{d.ID},
	}, nil
}

// checkFree fails when the graph already uses a name this package is about
// to add: a reserved name, or anything starting with namePrefix.
func checkFree(g *onnxpb.GraphProto, file, namePrefix string, reserved ...string) error {
	var names []string
	for _, n := range g.GetNode() {
		names = append(append(append(names, n.GetName()), n.GetOutput()...), n.GetInput()...)
	}
	for _, t := range g.GetInitializer() {
		names = append(names, t.GetName())
	}
	for _, v := range g.GetInput() {
		names = append(names, v.GetName())
	}
	for _, name := range names {
		if strings.HasPrefix(name, namePrefix) || slices.Contains(reserved, name) {
			return fmt.Errorf("graph: %s already has a tensor or node named %q, which graph surgery reserves", file, name)
		}
	}
	return nil
}

// stamp marks the model as written by autocv. The IR version stays the
// backbone's.
func stamp(m *onnxpb.ModelProto) {
	m.ProducerName = proto.String("autocv")
	m.ProducerVersion = proto.String(buildinfo.String())
}
