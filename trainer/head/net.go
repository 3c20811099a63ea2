package head

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Adam's constants.
const (
	beta1   = 0.9
	beta2   = 0.999
	epsilon = 1e-8
)

// param is one weight tensor with its gradient and Adam moments.
type param struct {
	v, g, m, s []float32
	decay      bool // L2 applies (weights, not biases)
}

func newParam(n int, decay bool) *param {
	return &param{v: make([]float32, n), g: make([]float32, n), m: make([]float32, n), s: make([]float32, n), decay: decay}
}

// net is a head being trained: its layers share their W and B slices with
// the params, so head() is a live view of the current weights.
type net struct {
	layers []Dense
	params []*param // W0, B0, W1, B1, …
	step   int      // Adam steps taken
}

// newNet initialises the layers for cfg: softmax regression starts at zero
// (the problem is convex); the MLP's first layer is drawn so that a unit's
// pre-activation has a standard deviation of 0.2 on inputs of RMS norm
// inNorm (small first-layer weights beat He-style unit variance on the
// calibration photos), and its output layer starts small, so the first
// predictions are near uniform.
func newNet(cfg Config, dim, classes int, inNorm float64) *net {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6865616420696e69)) // "head ini"
	nt := &net{}
	add := func(in, out int, relu bool, std float64) {
		w, b := newParam(in*out, true), newParam(out, false)
		for i := range w.v {
			w.v[i] = float32(rng.NormFloat64() * std)
		}
		nt.layers = append(nt.layers, Dense{In: in, Out: out, W: w.v, B: b.v, Relu: relu})
		nt.params = append(nt.params, w, b)
	}
	if cfg.Kind == KindMLP {
		add(dim, cfg.Hidden, true, 0.2/max(inNorm, 1e-6))
		add(cfg.Hidden, classes, false, 0.1*math.Sqrt(2/float64(cfg.Hidden)))
	} else {
		add(dim, classes, false, 0)
	}
	return nt
}

func (nt *net) head() Head { return Head{Layers: nt.layers} }

// snapshot copies the current weights into a standalone Head.
func (nt *net) snapshot() Head {
	h := Head{Layers: make([]Dense, len(nt.layers))}
	for i, l := range nt.layers {
		l.W = append([]float32(nil), l.W...)
		l.B = append([]float32(nil), l.B...)
		h.Layers[i] = l
	}
	return h
}

// workspace holds the buffers of one batch size.
type workspace struct {
	acts  [][]float32 // per layer, n×Out: activations (the last: probabilities)
	delta [][]float32 // per layer, n×Out: ∂loss/∂pre-activation
}

func newWorkspace(layers []Dense, n int) *workspace {
	ws := &workspace{}
	for _, l := range layers {
		ws.acts = append(ws.acts, make([]float32, n*l.Out))
		ws.delta = append(ws.delta, make([]float32, n*l.Out))
	}
	return ws
}

// gradient runs forward and backward on n rows x (row-major) with classes
// y and per-row weights w (summing to 1), leaving the gradient of
//
//	Σᵢ wᵢ · CE(smoothed target of yᵢ, pᵢ) + l2/2 · Σ‖W‖²
//
// in the params, and returns the data part of that loss.
func (nt *net) gradient(x []float32, y []int, w []float32, n int, smoothing, l2 float64, ws *workspace) float64 {
	h := nt.head()
	p := h.forward(x, n, ws.acts)
	k := h.Classes()
	last := len(nt.layers) - 1
	off, on := float32(smoothing/float64(k)), float32(1-smoothing+smoothing/float64(k))
	loss := 0.0
	d := ws.delta[last][:n*k]
	for i := range n {
		row, drow := p[i*k:(i+1)*k], d[i*k:(i+1)*k]
		for c, pc := range row {
			t := off
			if c == y[i] {
				t = on
			}
			if t > 0 {
				loss -= float64(w[i]) * float64(t) * math.Log(max(float64(pc), 1e-30))
			}
			drow[c] = w[i] * (pc - t)
		}
	}
	for li := last; li >= 0; li-- {
		l := nt.layers[li]
		in := x
		if li > 0 {
			in = ws.acts[li-1][:n*l.In]
		}
		dz := blas32.General{Rows: n, Cols: l.Out, Stride: l.Out, Data: ws.delta[li][:n*l.Out]}
		gw, gb := nt.params[2*li], nt.params[2*li+1]
		// ∂W = δᵀ·input + l2·W;  ∂b = column sums of δ.
		copy(gw.g, l.W)
		blas32.Gemm(blas.Trans, blas.NoTrans, 1, dz, blas32.General{Rows: n, Cols: l.In, Stride: l.In, Data: in},
			float32(l2), blas32.General{Rows: l.Out, Cols: l.In, Stride: l.In, Data: gw.g})
		clear(gb.g)
		for i := range n {
			for o, v := range dz.Data[i*l.Out : (i+1)*l.Out] {
				gb.g[o] += v
			}
		}
		if li == 0 {
			break
		}
		// δ of the layer below: (δ·W) ∘ ReLU'(its output).
		prev := nt.layers[li-1]
		below := blas32.General{Rows: n, Cols: prev.Out, Stride: prev.Out, Data: ws.delta[li-1][:n*prev.Out]}
		blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, dz, blas32.General{Rows: l.Out, Cols: l.In, Stride: l.In, Data: l.W}, 0, below)
		if prev.Relu {
			for i, a := range ws.acts[li-1][:n*prev.Out] {
				if a <= 0 {
					below.Data[i] = 0
				}
			}
		}
	}
	return loss
}

// adam applies one Adam step with learning rate lr to every param.
func (nt *net) adam(lr float64) {
	nt.step++
	c1 := 1 - math.Pow(beta1, float64(nt.step))
	c2 := 1 - math.Pow(beta2, float64(nt.step))
	stepSize := float32(lr * math.Sqrt(c2) / c1)
	eps := float32(epsilon * math.Sqrt(c2))
	for _, p := range nt.params {
		for i, g := range p.g {
			m := beta1*p.m[i] + (1-beta1)*g
			s := beta2*p.s[i] + (1-beta2)*g*g
			p.m[i], p.s[i] = m, s
			p.v[i] -= stepSize * m / (float32(math.Sqrt(float64(s))) + eps)
		}
	}
}
