package graph

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Bad backbones fail with a sentinel error and a message naming the file
// and what is wrong with it.
func TestFeatureModelRefuses(t *testing.T) {
	bb := openBackbone(t, backbone.MobileNetV2)
	photo, err := os.ReadFile(filepath.Join(testenv.DataDir(t), photos[0]))
	if err != nil {
		t.Fatal(err)
	}
	opset18 := func() []byte {
		m, err := backbone.ParseModel("x", bb.Data)
		if err != nil {
			t.Fatal(err)
		}
		m.OpsetImport[0].Version = proto.Int64(18)
		b, _ := Marshal(m)
		return b
	}()
	d := bb.Descriptor
	noTensor, noScale, batch1, opset := d, d, d, d
	noTensor.Feature.Tensor = "pool_out"
	noScale.Feature.DequantScale = "pool_scale"
	batch1.FixedBatch = 1
	opset.Opset = 0
	cases := []struct {
		name  string
		d     backbone.Descriptor
		model []byte
		is    error
		want  []string
	}{
		{"a photo", d, photo, backbone.ErrNotONNX, []string{"mobilenetv2-12-int8.onnx is not an ONNX model"}},
		{"empty file", d, nil, backbone.ErrNotONNX, []string{"mobilenetv2-12-int8.onnx is not an ONNX model"}},
		{"text", d, []byte("name: not a model\n"), backbone.ErrNotONNX, []string{"is not an ONNX model"}},
		{"missing feature tensor", noTensor, bb.Data, backbone.ErrNoFeature, []string{`"pool_out"`, "mobilenetv2-12-int8.onnx"}},
		{"missing dequantisation scale", noScale, bb.Data, backbone.ErrNoFeature, []string{`"pool_scale"`, "mobilenetv2-12-int8.onnx"}},
		{"wrong fixed batch", batch1, bb.Data, backbone.ErrDescriptor, []string{"fixed_batch 1"}},
		{"unsupported opset", opset, opset18, nil, []string{"opset 18"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FeatureModel(tc.d, tc.model)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A graph already using a name graph surgery adds is refused rather than
// silently rewired.
func TestFeatureModelNameClash(t *testing.T) {
	bb := openBackbone(t, backbone.ShuffleNet)
	m, err := backbone.ParseModel("x", bb.Data)
	if err != nil {
		t.Fatal(err)
	}
	g := m.GetGraph()
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("Identity"), Input: []string{"611"}, Output: []string{FeatureOutput}})
	b, _ := Marshal(m)
	if _, err := FeatureModel(bb.Descriptor, b); err == nil || !strings.Contains(err.Error(), `"features"`) {
		t.Fatalf("error %v, want a name clash on \"features\"", err)
	}
}
