package graph

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/onnxpb"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

// photos are a few real photos from the shared datasets.
var photos = []string{
	"datasets/hymenoptera/val/ants/1124525276_816a07c17f.jpg",
	"datasets/hymenoptera/val/bees/10870992_eebeeb3a12.jpg",
	"datasets/flowers5/daisy/10140303196_b88d3d6cec.jpg",
	"datasets/flowers5/sunflower/1008566138_6927679c8a.jpg",
}

func initORT(t testing.TB) {
	t.Helper()
	if err := engine.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
}

// openBackbone reads a built-in backbone from the shared test data.
func openBackbone(t testing.TB, id string) *backbone.Backbone {
	t.Helper()
	bb, err := backbone.Open(filepath.Join(testenv.DataDir(t), "backbones"), id)
	if err != nil {
		t.Fatal(err)
	}
	return bb
}

// images returns n preprocessed photos back to back, cycling through photos.
func images(t testing.TB, n int) []float32 {
	t.Helper()
	spec := preprocess.ImageNet()
	dir := testenv.DataDir(t)
	out := make([]float32, n*spec.Len())
	for i := range n {
		p := filepath.Join(dir, photos[i%len(photos)])
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := spec.DecodeTensor(data, out[i*spec.Len():]); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return out
}

// run runs model (bytes) through the engine: n images in, output values out.
func run(t testing.TB, model []byte, output string, input []float32, n int) []float32 {
	t.Helper()
	initORT(t)
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, model, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := engine.NewSession(path, engine.Options{Provider: engine.CPU, Input: InputName, Output: output, IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(input, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exposeTensor returns the unmodified backbone with tensor added to its
// graph outputs (declared with elemType, shape unknown), so onnxruntime
// hands back the tensor as the original graph computes it.
func exposeTensor(t testing.TB, model []byte, tensor string, elemType onnxpb.TensorProto_DataType) []byte {
	t.Helper()
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(model, m); err != nil {
		t.Fatal(err)
	}
	g := m.GetGraph()
	g.Output = append(g.Output, &onnxpb.ValueInfoProto{
		Name: proto.String(tensor),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(elemType)),
		}}},
	})
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runRaw runs model on a batch of n images and returns one output of any
// element type, straight from onnxruntime (the engine only does float32).
func runRaw[T ort.TensorData](t testing.TB, model []byte, output string, input []float32, n int) []T {
	t.Helper()
	initORT(t)
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{InputName}, []string{output}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, 224, 224), input)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	tt, ok := outs[0].(*ort.Tensor[T])
	if !ok {
		t.Fatalf("output %q is %T", output, outs[0])
	}
	return append([]T(nil), tt.GetData()...)
}

// scalarInit reads a scalar initializer of the original backbone as float64.
func scalarInit(t testing.TB, model []byte, name string) float64 {
	t.Helper()
	m, err := backbone.ParseModel("backbone", model)
	if err != nil {
		t.Fatal(err)
	}
	init := backbone.Initializer(m.GetGraph(), name)
	switch {
	case init == nil:
		t.Fatalf("no initializer %q", name)
	case len(init.GetFloatData()) == 1:
		return float64(init.GetFloatData()[0])
	case len(init.GetInt32Data()) == 1:
		return float64(init.GetInt32Data()[0])
	case len(init.GetRawData()) == 1:
		return float64(init.GetRawData()[0])
	}
	t.Fatalf("initializer %q: unexpected encoding", name)
	return 0
}
