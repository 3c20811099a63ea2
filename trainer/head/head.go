package head

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Dense is one fully connected layer: y = W·x + b, then ReLU when Relu.
//
// W is row-major Out×In: W[o*In+i] weighs input i for output o. As an ONNX
// initializer of shape [Out, In] it is Gemm's B with transB=1
// (Y = X·Wᵀ + B); for MatMul use its transpose, shape [In, Out].
type Dense struct {
	In, Out int
	W       []float32 // Out×In, row-major
	B       []float32 // Out
	Relu    bool
}

// Head is a trained classification head: the layers run in order on a
// feature vector, and a softmax over the last layer's outputs (the logits,
// never ReLU'd) gives one probability per class.
type Head struct {
	Layers []Dense
}

// Inputs is the feature width the head takes (0 for an empty head).
func (h Head) Inputs() int {
	if len(h.Layers) == 0 {
		return 0
	}
	return h.Layers[0].In
}

// Classes is the number of probabilities the head returns.
func (h Head) Classes() int {
	if len(h.Layers) == 0 {
		return 0
	}
	return h.Layers[len(h.Layers)-1].Out
}

// Validate checks the layers chain (each In is the previous Out), the
// slice lengths, that the last layer has no ReLU, and that every weight is
// finite.
func (h Head) Validate() error {
	if len(h.Layers) == 0 {
		return fmt.Errorf("head: no layers")
	}
	for i, l := range h.Layers {
		switch {
		case l.In < 1 || l.Out < 1:
			return fmt.Errorf("head: layer %d is %d×%d", i, l.Out, l.In)
		case i > 0 && l.In != h.Layers[i-1].Out:
			return fmt.Errorf("head: layer %d takes %d inputs, layer %d gives %d", i, l.In, i-1, h.Layers[i-1].Out)
		case len(l.W) != l.In*l.Out:
			return fmt.Errorf("head: layer %d has %d weights, want %d×%d", i, len(l.W), l.Out, l.In)
		case len(l.B) != l.Out:
			return fmt.Errorf("head: layer %d has %d biases, want %d", i, len(l.B), l.Out)
		case i == len(h.Layers)-1 && l.Relu:
			return fmt.Errorf("head: the last layer has a ReLU; its outputs must be the logits")
		}
		for _, vs := range [][]float32{l.W, l.B} {
			for _, v := range vs {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("head: layer %d has a non-finite weight", i)
				}
			}
		}
	}
	return nil
}

// Predict returns the class probabilities for one feature vector of
// length Inputs().
func (h Head) Predict(x []float32) []float32 {
	return h.PredictBatch([][]float32{x})[0]
}

// PredictBatch returns the class probabilities for each feature vector.
// It panics when a row's length is not Inputs().
func (h Head) PredictBatch(xs [][]float32) [][]float32 {
	d := h.Inputs()
	flat := make([]float32, len(xs)*d)
	for i, x := range xs {
		if len(x) != d {
			panic(fmt.Sprintf("head: feature %d has %d values, the head takes %d", i, len(x), d))
		}
		copy(flat[i*d:], x)
	}
	p := h.forward(flat, len(xs), nil)
	k := h.Classes()
	out := make([][]float32, len(xs))
	for i := range out {
		out[i] = p[i*k : (i+1)*k : (i+1)*k]
	}
	return out
}

// forward runs the layers on n rows of x (n×Inputs(), row-major) and
// returns n×Classes() probabilities. ws, when not nil, holds one buffer
// per layer of at least n×Out values that forward reuses for the
// activations (the last one ends up holding the probabilities).
func (h Head) forward(x []float32, n int, ws [][]float32) []float32 {
	in := x
	for li, l := range h.Layers {
		var out []float32
		if ws != nil {
			out = ws[li][:n*l.Out]
		} else {
			out = make([]float32, n*l.Out)
		}
		dense(l, in, n, out)
		in = out
	}
	softmaxRows(in, n, h.Classes())
	return in
}

// dense computes out = act(in·Wᵀ + b) for n rows.
func dense(l Dense, in []float32, n int, out []float32) {
	a := blas32.General{Rows: n, Cols: l.In, Stride: l.In, Data: in}
	w := blas32.General{Rows: l.Out, Cols: l.In, Stride: l.In, Data: l.W}
	c := blas32.General{Rows: n, Cols: l.Out, Stride: l.Out, Data: out}
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, a, w, 0, c)
	for i := range n {
		row := out[i*l.Out : (i+1)*l.Out]
		for o, b := range l.B {
			v := row[o] + b
			if l.Relu && v < 0 {
				v = 0
			}
			row[o] = v
		}
	}
}

// softmaxRows turns each of n rows of k logits into probabilities, in
// place, in float64 with the row maximum subtracted first.
func softmaxRows(z []float32, n, k int) {
	for i := range n {
		row := z[i*k : (i+1)*k]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for c, v := range row {
			e := math.Exp(float64(v - m))
			row[c] = float32(e)
			s += e
		}
		for c := range row {
			row[c] = float32(float64(row[c]) / s)
		}
	}
}
