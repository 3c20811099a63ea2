package features

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/autocv/autocv/internal/testenv"
)

// ONNX protobuf field numbers used below (onnx.proto).
const (
	modelGraph     = 7  // ModelProto.graph
	graphNode      = 1  // GraphProto.node
	graphOutput    = 12 // GraphProto.output
	nodeInput      = 1  // NodeProto.input
	nodeOutput     = 2  // NodeProto.output
	nodeName       = 3  // NodeProto.name
	nodeOpType     = 4  // NodeProto.op_type
	valueName      = 1  // ValueInfoProto.name
	valueType      = 2  // ValueInfoProto.type
	typeTensor     = 1  // TypeProto.tensor_type
	tensorElemType = 1  // TypeProto.Tensor.elem_type
	tensorShape    = 2  // TypeProto.Tensor.shape
	shapeDim       = 1  // TensorShapeProto.dim
	dimValue       = 1  // Dimension.dim_value
	dimParam       = 2  // Dimension.dim_param
	onnxFloat      = 1  // TensorProto.FLOAT
)

// mobileNetFeatures writes a feature model made from the shared
// MobileNetV2-int8 backbone the way backbones/README.md describes: a
// DequantizeLinear of the pooled uint8 feature (472_quantized, 464_scale,
// 464_zero_point) becomes the only graph output, "features" float32
// [N,1280]. It edits the protobuf wire format directly (the graph package
// owns real ONNX surgery; this is a test stand-in) and returns the path.
func mobileNetFeatures(t testing.TB) string {
	t.Helper()
	src, err := os.ReadFile(testenv.Data(t, "backbones", "mobilenetv2-12-int8.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var model []byte
	for b := src; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal(protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			t.Fatal(protowire.ParseError(m))
		}
		field := b[:n+m]
		b = b[n+m:]
		if num != modelGraph {
			model = append(model, field...)
			continue
		}
		graph, _ := protowire.ConsumeBytes(field[n:])
		model = protowire.AppendTag(model, modelGraph, protowire.BytesType)
		model = protowire.AppendBytes(model, featureGraph(t, graph))
	}
	path := filepath.Join(t.TempDir(), "mobilenetv2-features.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// featureGraph drops the graph's outputs and appends the dequantising
// node and the "features" output.
func featureGraph(t testing.TB, graph []byte) []byte {
	var out []byte
	for b := graph; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if n < 0 || m < 0 {
			t.Fatal(fmt.Errorf("bad graph field %d", num))
		}
		if num != graphOutput {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	var node []byte
	for _, in := range []string{"472_quantized", "464_scale", "464_zero_point"} {
		node = appendString(node, nodeInput, in)
	}
	node = appendString(node, nodeOutput, "features")
	node = appendString(node, nodeName, "features_dequantize")
	node = appendString(node, nodeOpType, "DequantizeLinear")
	out = appendMessage(out, graphNode, node)

	var batch, width, shape, tensor, typ, value []byte
	batch = appendString(batch, dimParam, "N")
	width = protowire.AppendTag(width, dimValue, protowire.VarintType)
	width = protowire.AppendVarint(width, 1280)
	shape = appendMessage(appendMessage(shape, shapeDim, batch), shapeDim, width)
	tensor = protowire.AppendTag(tensor, tensorElemType, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, onnxFloat)
	tensor = appendMessage(tensor, tensorShape, shape)
	typ = appendMessage(typ, typeTensor, tensor)
	value = appendString(value, valueName, "features")
	value = appendMessage(value, valueType, typ)
	return appendMessage(out, graphOutput, value)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}
