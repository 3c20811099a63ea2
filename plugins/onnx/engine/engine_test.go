package engine

import (
	"errors"
	"math"
	"testing"

	"github.com/autocv/autocv/protocol/testenv"
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
