package head

import (
	"math"
	"strings"
	"testing"
)

// TestPredictLayout pins the weight layout the ONNX exporter relies on:
// W[o*In+i] weighs input i for output o, ReLU after the hidden layer only,
// softmax at the end.
func TestPredictLayout(t *testing.T) {
	h := Head{Layers: []Dense{
		{In: 3, Out: 2, W: []float32{1, 0, -1, 0, 2, 0}, B: []float32{0.5, -1}, Relu: true},
		{In: 2, Out: 2, W: []float32{1, 0, 0, -1}, B: []float32{0, 0}},
	}}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 3}
	// hidden: relu(1·1 + 0·2 - 1·3 + 0.5) = relu(-1.5) = 0; relu(2·2 - 1) = 3.
	// logits: (0, -3); softmax: (1/(1+e⁻³), e⁻³/(1+e⁻³)).
	want0 := 1 / (1 + math.Exp(-3))
	p := h.Predict(x)
	if math.Abs(float64(p[0])-want0) > 1e-6 || math.Abs(float64(p[0]+p[1])-1) > 1e-6 {
		t.Fatalf("Predict = %v, want [%v %v]", p, want0, 1-want0)
	}
	batch := h.PredictBatch([][]float32{x, {0, 0, 0}})
	if batch[0][0] != p[0] || len(batch) != 2 {
		t.Fatalf("PredictBatch = %v", batch)
	}
	if h.Inputs() != 3 || h.Classes() != 2 {
		t.Fatalf("Inputs %d Classes %d", h.Inputs(), h.Classes())
	}
}

func TestHeadValidate(t *testing.T) {
	good := func() Head {
		return Head{Layers: []Dense{
			{In: 2, Out: 3, W: make([]float32, 6), B: make([]float32, 3), Relu: true},
			{In: 3, Out: 2, W: make([]float32, 6), B: make([]float32, 2)},
		}}
	}
	for _, tc := range []struct {
		name    string
		breakIt func(h *Head)
		want    string
	}{
		{"empty", func(h *Head) { h.Layers = nil }, "no layers"},
		{"chain", func(h *Head) { h.Layers[1].In = 4; h.Layers[1].W = make([]float32, 8) }, "takes 4 inputs"},
		{"weights", func(h *Head) { h.Layers[0].W = h.Layers[0].W[:5] }, "5 weights"},
		{"biases", func(h *Head) { h.Layers[1].B = nil }, "0 biases"},
		{"relu last", func(h *Head) { h.Layers[1].Relu = true }, "last layer has a ReLU"},
		{"nan", func(h *Head) { h.Layers[0].W[2] = float32(math.NaN()) }, "non-finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := good()
			tc.breakIt(&h)
			if err := h.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestGradient compares the analytic gradient with central differences on
// a tiny MLP with class weights, label smoothing and L2.
func TestGradient(t *testing.T) {
	d := blobs(3, 5, []int{4, 3, 2}, 1)
	cfg := Config{Kind: KindMLP, Hidden: 4, L2: 0.01, LabelSmoothing: 0.1, LR: 0.01, Epochs: 1, Seed: 9}
	nt := newNet(cfg, d.Dim(), d.Classes, 1)
	for _, p := range nt.params { // non-zero biases too
		for i := range p.v {
			p.v[i] += 0.1 * float32(i%3-1)
		}
	}
	x, n := d.flat(), d.Len()
	w := balancedWeights(d.Y, d.Classes, true, false)
	ws := newWorkspace(nt.layers, n)
	objective := func() float64 {
		loss := nt.gradient(x, d.Y, w, n, cfg.LabelSmoothing, cfg.L2, ws)
		for _, p := range nt.params {
			if p.decay {
				for _, v := range p.v {
					loss += cfg.L2 / 2 * float64(v) * float64(v)
				}
			}
		}
		return loss
	}
	objective()
	var grads [][]float32
	for _, p := range nt.params {
		grads = append(grads, append([]float32(nil), p.g...))
	}
	const h = 1e-2
	for pi, p := range nt.params {
		for i := range p.v {
			orig := p.v[i]
			p.v[i] = orig + h
			up := objective()
			p.v[i] = orig - h
			down := objective()
			p.v[i] = orig
			num := (up - down) / (2 * h)
			if got := float64(grads[pi][i]); math.Abs(got-num) > 2e-3+2e-2*math.Abs(num) {
				t.Fatalf("param %d[%d]: analytic %v, numeric %v", pi, i, got, num)
			}
		}
	}
}

func TestDatasetValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Dataset
	}{
		{"one class", Dataset{X: [][]float32{{1}}, Y: []int{0}, Classes: 1}},
		{"rows", Dataset{X: [][]float32{{1}}, Y: []int{0, 1}, Classes: 2}},
		{"ragged", Dataset{X: [][]float32{{1}, {1, 2}}, Y: []int{0, 1}, Classes: 2}},
		{"class", Dataset{X: [][]float32{{1}}, Y: []int{2}, Classes: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.d.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	a := Dataset{X: [][]float32{{1}}, Y: []int{0}, Classes: 2}
	if _, err := Concat(a, Dataset{X: [][]float32{{1, 2}}, Y: []int{1}, Classes: 2}); err == nil {
		t.Fatal("Concat of different widths")
	}
	c, err := Concat(a, a)
	if err != nil || c.Len() != 2 || c.Counts()[0] != 2 {
		t.Fatalf("Concat = %+v, %v", c, err)
	}
}
