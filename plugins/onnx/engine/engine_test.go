package engine

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/autocv/autocv/internal/testenv"
)

func initORT(t *testing.T) {
	t.Helper()
	if err := Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
}

func TestSessionShapes(t *testing.T) {
	initORT(t)
	cases := []struct {
		name       string
		file       string
		fixedBatch int
		n          int
	}{
		{"mobilenetv2 dynamic batch", "mobilenetv2-12-int8.onnx", 0, 3},
		{"shufflenet fixed batch of one", "shufflenet-v2-12-qdq.onnx", 1, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(testenv.Data(t, "backbones", tc.file), Options{Provider: CPU, Input: "input", Output: "output"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Provider() != CPU {
				t.Fatalf("provider %q", s.Provider())
			}
			if got := s.FixedBatch(); got != tc.fixedBatch {
				t.Fatalf("FixedBatch() = %d, want %d", got, tc.fixedBatch)
			}
			if got := s.Outputs(); got != 1000 {
				t.Fatalf("Outputs() = %d, want 1000", got)
			}
			in := make([]float32, tc.n*3*224*224)
			out, err := s.Run(in, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tc.n*1000 {
				t.Fatalf("got %d outputs, want %d", len(out), tc.n*1000)
			}
			for _, v := range out {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatal("non-finite output")
				}
			}
			// the same input twice gives the same answer for every item
			for i := 1; i < tc.n; i++ {
				for j := 0; j < 1000; j++ {
					if out[i*1000+j] != out[j] {
						t.Fatalf("item %d differs from item 0 at %d", i, j)
					}
				}
			}
			if _, err := s.Run(in[:100], 1); err == nil {
				t.Fatal("wrong item size accepted")
			}
		})
	}
}

func TestUnknownNames(t *testing.T) {
	initORT(t)
	_, err := NewSession(testenv.Data(t, "backbones", "mobilenetv2-12-int8.onnx"), Options{Input: "nope", Output: "output"})
	if err == nil {
		t.Fatal("unknown input name accepted")
	}
}

// The npm build of onnxruntime has no CUDA provider, and CI has no GPU:
// asking for cuda must say so, and auto must fall back to cpu.
func TestCUDAUnavailable(t *testing.T) {
	initORT(t)
	path := testenv.Data(t, "backbones", "mobilenetv2-12-int8.onnx")
	s, err := NewSession(path, Options{Provider: CUDA, Input: "input", Output: "output"})
	if err == nil {
		s.Close()
		t.Skip("this machine runs CUDA sessions")
	}
	if !errors.Is(err, ErrProvider) {
		t.Fatalf("cuda error %v is not ErrProvider", err)
	}
	t.Logf("cuda: %v", err)
	s, err = NewSession(path, Options{Provider: Auto, Input: "input", Output: "output"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Provider() != CPU {
		t.Fatalf("auto picked %q, want cpu", s.Provider())
	}
}

// identityModel encodes, field by field, an ONNX model y = Identity(x) with
// x, y float32 [batch, width], batch fixed when batch > 0.
func identityModel(batch, width int64) []byte {
	var b []byte
	msg := func(field protowire.Number, body []byte) []byte {
		b := protowire.AppendTag(nil, field, protowire.BytesType)
		return protowire.AppendBytes(b, body)
	}
	str := func(field protowire.Number, s string) []byte { return msg(field, []byte(s)) }
	varint := func(field protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, field, protowire.VarintType), v)
	}
	dim := func(v int64) []byte {
		if v <= 0 {
			return msg(1, str(2, "batch")) // dim_param
		}
		return msg(1, varint(1, uint64(v))) // dim_value
	}
	valueInfo := func(name string) []byte {
		shape := append(dim(batch), dim(width)...)
		tensor := append(varint(1, 1), msg(2, shape)...) // elem_type FLOAT, shape
		return append(str(1, name), msg(2, msg(1, tensor))...)
	}
	node := append(append(str(1, "x"), str(2, "y")...), str(4, "Identity")...)
	graph := append(append(append(msg(1, node), str(2, "g")...), msg(11, valueInfo("x"))...), msg(12, valueInfo("y"))...)
	b = append(b, varint(1, 7)...)          // ir_version
	b = append(b, msg(8, varint(2, 12))...) // opset_import { version: 12 }
	b = append(b, msg(7, graph)...)         // graph
	return b
}

// A model with a fixed batch above 1 gets its last chunk padded.
func TestFixedBatchPadding(t *testing.T) {
	initORT(t)
	path := filepath.Join(t.TempDir(), "identity.onnx")
	if err := os.WriteFile(path, identityModel(2, 3), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(path, Options{Input: "x", Output: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.FixedBatch() != 2 {
		t.Fatalf("fixed batch %d", s.FixedBatch())
	}
	in := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	out, err := s.Run(in, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d values, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("value %d: %v, want %v", i, out[i], in[i])
		}
	}
}

func TestBadShapesRefused(t *testing.T) {
	initORT(t)
	path := filepath.Join(t.TempDir(), "dynamic.onnx")
	// width dynamic too: only the batch may be
	if err := os.WriteFile(path, identityModel(0, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(path, Options{Input: "x", Output: "y"}); err == nil {
		t.Fatal("model with a dynamic item dimension accepted")
	} else {
		t.Log(err)
	}
}
