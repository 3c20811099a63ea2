package backbone

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/trainer/onnxpb"
)

// Sentinel errors, wrapped with %w; the messages around them name the
// file, the tensor or the field.
var (
	// ErrNotONNX: the file is not an ONNX model.
	ErrNotONNX = errors.New("not an ONNX model")
	// ErrNoFeature: the model lacks the feature tensor, its dequantisation
	// initializers or the input the descriptor names.
	ErrNoFeature = errors.New("backbone lacks the described tensor")
	// ErrChecksum: the file's sha256 differs from the descriptor's.
	ErrChecksum = errors.New("backbone sha256 mismatch")
	// ErrMissing means no backbone folder was given or found, or the
	// model file is not in it: `make deps` or `autocv-trainer
	// fetch-backbones` fetches them.
	ErrMissing = errors.New("backbone files missing")
	// ErrDescriptor: a descriptor is missing, malformed or contradicts its
	// model.
	ErrDescriptor = errors.New("invalid backbone descriptor")
)

// ParseModel decodes an ONNX model; name (usually the file name) is only
// used in errors. Bytes that decode as protobuf but hold no graph are
// refused too: an empty or unrelated file is not a model.
func ParseModel(name string, data []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s is %w: %v", name, ErrNotONNX, err)
	}
	if m.GetIrVersion() <= 0 || len(m.GetGraph().GetNode()) == 0 || len(m.GetGraph().GetInput()) == 0 {
		return nil, fmt.Errorf("%s is %w: it has no ir_version, graph nodes or graph input", name, ErrNotONNX)
	}
	return m, nil
}

// Opset returns the model's ai.onnx opset version (0 when not imported).
func Opset(m *onnxpb.ModelProto) int {
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			return int(o.GetVersion())
		}
	}
	return 0
}

// CheckModel checks that m (read from file name) has what d describes: the
// input of the right shape and batch, the feature tensor as some node's
// output, and scalar dequantisation initializers.
func (d Descriptor) CheckModel(name string, m *onnxpb.ModelProto) error {
	g := m.GetGraph()
	if d.Opset != 0 && Opset(m) != d.Opset {
		return fmt.Errorf("%w: %s has ai.onnx opset %d, descriptor %q says %d", ErrDescriptor, name, Opset(m), d.ID, d.Opset)
	}
	var in *onnxpb.ValueInfoProto
	var inputs []string
	for _, v := range g.GetInput() {
		if v.GetName() == d.Input {
			in = v
		}
		inputs = append(inputs, v.GetName())
	}
	if in == nil {
		return fmt.Errorf("%w: %s has no graph input %q (it has %q)", ErrNoFeature, name, d.Input, inputs)
	}
	if err := d.checkInput(name, in); err != nil {
		return err
	}
	produced := false
	for _, n := range g.GetNode() {
		if slices.Contains(n.GetOutput(), d.Feature.Tensor) {
			produced = true
			break
		}
	}
	if !produced {
		return fmt.Errorf("%w: %s has no feature tensor %q (no node outputs it)", ErrNoFeature, name, d.Feature.Tensor)
	}
	if !d.Feature.Quantised() {
		return nil
	}
	for _, want := range []struct {
		name  string
		types []onnxpb.TensorProto_DataType
	}{
		{d.Feature.DequantScale, []onnxpb.TensorProto_DataType{onnxpb.TensorProto_FLOAT}},
		{d.Feature.DequantZeroPoint, []onnxpb.TensorProto_DataType{onnxpb.TensorProto_UINT8, onnxpb.TensorProto_INT8}},
	} {
		t := Initializer(g, want.name)
		if t == nil {
			return fmt.Errorf("%w: %s has no initializer %q to dequantise feature %q", ErrNoFeature, name, want.name, d.Feature.Tensor)
		}
		if !slices.Contains(want.types, onnxpb.TensorProto_DataType(t.GetDataType())) || !scalar(t) {
			return fmt.Errorf("%w: %s: initializer %q is a %v tensor of shape %v, want a scalar %v",
				ErrDescriptor, name, want.name, onnxpb.TensorProto_DataType(t.GetDataType()), t.GetDims(), want.types)
		}
	}
	return nil
}

func (d Descriptor) checkInput(name string, in *onnxpb.ValueInfoProto) error {
	tt := in.GetType().GetTensorType()
	if tt == nil || onnxpb.TensorProto_DataType(tt.GetElemType()) != onnxpb.TensorProto_FLOAT {
		return fmt.Errorf("%w: %s: input %q is not a float32 tensor", ErrDescriptor, name, d.Input)
	}
	dims := tt.GetShape().GetDim()
	if len(dims) != 4 {
		return fmt.Errorf("%w: %s: input %q has %d dimensions, want 4 (a batch of images)", ErrDescriptor, name, d.Input, len(dims))
	}
	want := []int64{3, int64(d.InputSize), int64(d.InputSize)}
	if d.Preprocess.Layout == modelpkg.LayoutNHWC {
		want = []int64{int64(d.InputSize), int64(d.InputSize), 3}
	}
	for i, w := range want {
		if v, ok := dims[i+1].GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue != w {
			return fmt.Errorf("%w: %s: input %q dimension %d is %d, descriptor %q says %d", ErrDescriptor, name, d.Input, i+1, v.DimValue, d.ID, w)
		}
	}
	batch := 0
	if v, ok := dims[0].GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue > 0 {
		batch = int(v.DimValue)
	}
	if batch != d.FixedBatch {
		return fmt.Errorf("%w: %s: input %q has fixed batch %d (0 = dynamic), descriptor %q says fixed_batch %d",
			ErrDescriptor, name, d.Input, batch, d.ID, d.FixedBatch)
	}
	return nil
}

// Initializer returns the graph initializer called name, or nil.
func Initializer(g *onnxpb.GraphProto, name string) *onnxpb.TensorProto {
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

func scalar(t *onnxpb.TensorProto) bool {
	n := int64(1)
	for _, d := range t.GetDims() {
		n *= d
	}
	return n == 1
}
