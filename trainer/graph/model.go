// Package graph edits ONNX models on their protobuf (trainer/onnxpb), in Go:
// it cuts a backbone at its pooled feature (Features), joins several
// backbones on one shared input (Combined), appends a trained head ending
// in Softmax (AppendHead) and writes the labels and preprocessing into the
// model's metadata (SetMetadata), so that one model.onnx maps a
// preprocessed image straight to class probabilities.
//
// Every node, initializer and tensor this package adds is named under the
// "autocv/" prefix. The ops it adds (DequantizeLinear, Flatten, ReduceL2,
// Max, Div, Concat, Gemm, Relu, Softmax) are all in the default ai.onnx
// domain with the same meaning at every opset from MinOpset to MaxOpset.
package graph

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Output names of the models this package builds.
const (
	InputName         = "input"         // the shared input of Combined
	FeatureOutput     = "features"      // float32 [N, Dim]
	ProbabilityOutput = "probabilities" // float32 [N, classes]
)

// Opsets whose semantics for the added ops this package relies on (ReduceL2
// takes axes as an attribute until opset 18; DequantizeLinear needs 10).
const (
	MinOpset = 10
	MaxOpset = 17
)

// prefix starts the name of everything this package adds to a graph.
const prefix = "autocv/"

// Model is an ONNX model being built, with what the trainer needs to know
// about its single input and output.
type Model struct {
	Proto  *onnxpb.ModelProto
	Input  string // graph input name
	Output string // graph output name: FeatureOutput or ProbabilityOutput
	Dim    int    // values per item in the output
	// FixedBatch is the only batch size the model takes, 0 when dynamic. A
	// model holding a fixed-batch backbone has that fixed batch; it goes
	// into the package manifest's io.fixed_batch.
	FixedBatch int
	Backbones  []string // ids of the backbones inside, in order
}

// Clone returns a deep copy, e.g. to append a head to a feature model that
// is still in use.
func (m *Model) Clone() *Model {
	c := *m
	c.Proto = proto.Clone(m.Proto).(*onnxpb.ModelProto)
	c.Backbones = slices.Clone(m.Backbones)
	return &c
}

// Marshal encodes the model deterministically: the same model gives the
// same bytes.
func (m *Model) Marshal() ([]byte, error) { return Marshal(m.Proto) }

// Marshal encodes an ONNX model deterministically.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("graph: encoding model: %w", err)
	}
	return b, nil
}

// checkOpset returns the model's ai.onnx opset, or an error when the ops
// this package adds may mean something else there.
func checkOpset(m *onnxpb.ModelProto, name string) (int64, error) {
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			v := o.GetVersion()
			if v < MinOpset || v > MaxOpset {
				return 0, fmt.Errorf("graph: %s uses ai.onnx opset %d; graph surgery supports opsets %d to %d", name, v, MinOpset, MaxOpset)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("graph: %s imports no ai.onnx opset", name)
}

// node builds a default-domain node.
func node(op, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(name), Domain: proto.String(""),
		Input: inputs, Output: outputs, Attribute: attrs,
	}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// floatTensor builds a float32 initializer stored as raw little-endian
// bytes (as exporters do; float_data would be larger to encode).
func floatTensor(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		Dims: dims, RawData: raw,
	}
}

// tensorInfo builds a float32 value info of shape [batch, dim] where batch
// copies the given dimension (a fixed size or a symbolic name).
func tensorInfo(name string, batch *onnxpb.TensorShapeProto_Dimension, dim int) *onnxpb.ValueInfoProto {
	b := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
	if batch != nil && batch.GetValue() != nil {
		b = proto.Clone(batch).(*onnxpb.TensorShapeProto_Dimension)
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				b, {Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(dim)}},
			}},
		}}},
	}
}

// graphInput returns the graph input called name, or nil.
func graphInput(g *onnxpb.GraphProto, name string) *onnxpb.ValueInfoProto {
	for _, v := range g.GetInput() {
		if v.GetName() == name {
			return v
		}
	}
	return nil
}

// batchDim returns the first dimension of a tensor value, or nil.
func batchDim(v *onnxpb.ValueInfoProto) *onnxpb.TensorShapeProto_Dimension {
	dims := v.GetType().GetTensorType().GetShape().GetDim()
	if len(dims) == 0 {
		return nil
	}
	return dims[0]
}

// fixedBatch returns the fixed size of a batch dimension, 0 when dynamic.
func fixedBatch(d *onnxpb.TensorShapeProto_Dimension) int {
	if v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue > 0 {
		return int(v.DimValue)
	}
	return 0
}
