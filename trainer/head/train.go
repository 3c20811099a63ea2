package head

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/autocv/autocv/protocol/report"
)

// A validation loss counts as better for early stopping when it is below
// the best so far by at least relImprovement of it plus minImprovement, so
// a slow creep of the loss (weights growing on separable data) stops too.
const (
	relImprovement = 1e-3
	minImprovement = 1e-5
)

// Fit is the outcome of one training run with early stopping.
type Fit struct {
	Head    Head    // the weights of the best epoch
	Epochs  int     // epochs up to and including the best one
	ValLoss float64 // validation cross-entropy at the best epoch: class-balanced, no smoothing (plain with cfg.Unbalanced)
	Ran     int     // epochs actually run (Epochs + the patience spent)
	// Curve is every epoch run: training loss and accuracy (on up to
	// curveSample training rows), validation accuracy and loss.
	Curve []report.CurvePoint
}

// curveSample is how many training rows the curve's training loss and
// accuracy are measured on after each epoch: enough for a smooth line,
// few enough to cost little next to the epoch itself.
const curveSample = 256

// Train fits cfg on train, measuring the validation loss on val after
// every epoch and keeping the best epoch's weights; it stops after
// cfg.Patience epochs without improvement (cfg.Patience 0 never stops
// early) or after cfg.Epochs. A cancelled ctx stops it within one step
// and returns ctx's error.
func Train(ctx context.Context, train, val Dataset, cfg Config) (Fit, error) {
	if err := check(train, cfg); err != nil {
		return Fit{}, err
	}
	if val.Len() == 0 {
		return Fit{}, fmt.Errorf("%w: no validation images for early stopping", ErrData)
	}
	if err := val.Validate(); err != nil {
		return Fit{}, fmt.Errorf("validation split: %w", err)
	}
	if val.Classes != train.Classes || val.Dim() != train.Dim() {
		return Fit{}, fmt.Errorf("%w: validation split has %d classes and %d-value features, training split %d and %d",
			ErrData, val.Classes, val.Dim(), train.Classes, train.Dim())
	}
	t := newTrainer(train, cfg)
	vx, vw := val.flat(), balancedWeights(val.Y, val.Classes, !cfg.Unbalanced, false)
	vws := newWorkspace(t.net.layers, val.Len())
	sample := train.subset(spread(train.Len(), curveSample))
	sx, sw := sample.flat(), balancedWeights(sample.Y, sample.Classes, false, false)
	sws := newWorkspace(t.net.layers, sample.Len())
	best := Fit{ValLoss: math.Inf(1)}
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		if err := t.epoch(ctx); err != nil {
			return Fit{}, err
		}
		best.Ran = epoch
		p := t.net.head().forward(vx, val.Len(), vws.acts)
		loss := crossEntropy(p, val.Y, vw, val.Classes)
		if math.IsNaN(loss) {
			return Fit{}, fmt.Errorf("head: %s diverged at epoch %d (validation loss NaN); lower the learning rate", cfg.Name(), epoch)
		}
		if len(best.Curve) < report.MaxCurve {
			sp := t.net.head().forward(sx, sample.Len(), sws.acts)
			best.Curve = append(best.Curve, report.CurvePoint{Epoch: epoch, Loss: crossEntropy(sp, sample.Y, sw, sample.Classes),
				TrainAccuracy: hitRate(sp, sample.Y, sample.Classes), ValAccuracy: hitRate(p, val.Y, val.Classes), ValLoss: loss})
		}
		if loss < best.ValLoss*(1-relImprovement)-minImprovement {
			best.ValLoss, best.Epochs, best.Head = loss, epoch, t.net.snapshot()
		} else if cfg.Patience > 0 && epoch-best.Epochs >= cfg.Patience {
			break
		}
	}
	return best, nil
}

// Refit trains cfg on data for exactly epochs epochs (at least 1), with no
// validation: the second pass after Search, on train + validation, for the
// number of epochs early stopping chose. The learning-rate schedule is the
// one Train followed (cosine over cfg.Epochs), cut at epochs.
func Refit(ctx context.Context, data Dataset, cfg Config, epochs int) (Head, error) {
	if err := check(data, cfg); err != nil {
		return Head{}, err
	}
	t := newTrainer(data, cfg)
	for range max(epochs, 1) {
		if err := t.epoch(ctx); err != nil {
			return Head{}, err
		}
	}
	return t.net.snapshot(), nil
}

func check(d Dataset, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Len() == 0 {
		return fmt.Errorf("%w: no training images", ErrData)
	}
	return nil
}

// trainer runs epochs of Adam over one dataset.
type trainer struct {
	cfg     Config
	x       []float32 // n×dim, row-major
	y       []int
	w       []float32 // per-row loss weight (class balance), mean 1
	dim     int
	net     *net
	batch   int
	rng     *rand.Rand
	order   []int
	bx      []float32 // mini-batch buffers
	by      []int
	bw      []float32
	sw      []float32 // the step's normalised weights
	ws      *workspace
	classes int
	done    int     // epochs run
	lr      float64 // this epoch's learning rate
}

func newTrainer(d Dataset, cfg Config) *trainer {
	n, dim := d.Len(), d.Dim()
	x := d.flat()
	var norm float64
	for _, v := range x {
		norm += float64(v) * float64(v)
	}
	t := &trainer{
		cfg: cfg, x: x, y: d.Y, dim: dim, classes: d.Classes,
		w:     balancedWeights(d.Y, d.Classes, !cfg.Unbalanced, true),
		net:   newNet(cfg, dim, d.Classes, math.Sqrt(norm/float64(n))),
		batch: cfg.BatchSize,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x62617463686573)), // "batches"
	}
	if t.batch <= 0 || t.batch >= n {
		t.batch = n
	} else {
		t.order = make([]int, n)
		for i := range t.order {
			t.order[i] = i
		}
		t.bx, t.by, t.bw = make([]float32, t.batch*dim), make([]int, t.batch), make([]float32, t.batch)
	}
	t.ws = newWorkspace(t.net.layers, t.batch)
	t.sw = make([]float32, t.batch)
	return t
}

// epoch runs one pass: one full-batch step, or one step per mini-batch in
// a fresh seeded order.
func (t *trainer) epoch(ctx context.Context) error {
	n := len(t.y)
	t.lr = t.cfg.LR * 0.5 * (1 + math.Cos(math.Pi*float64(t.done)/float64(t.cfg.Epochs)))
	t.done++
	if t.order == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		t.step(t.x, t.y, t.w, n)
		return nil
	}
	t.rng.Shuffle(n, func(i, j int) { t.order[i], t.order[j] = t.order[j], t.order[i] })
	for lo := 0; lo < n; lo += t.batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(t.batch, n-lo)
		for i, j := range t.order[lo : lo+m] {
			copy(t.bx[i*t.dim:(i+1)*t.dim], t.x[j*t.dim:(j+1)*t.dim])
			t.by[i], t.bw[i] = t.y[j], t.w[j]
		}
		t.step(t.bx[:m*t.dim], t.by[:m], t.bw[:m], m)
	}
	return nil
}

// step takes one Adam step on n rows; the row weights are normalised to
// sum to 1 over the batch.
func (t *trainer) step(x []float32, y []int, w []float32, n int) {
	var sum float64
	for _, v := range w[:n] {
		sum += float64(v)
	}
	sw := t.sw[:n]
	for i, v := range w[:n] {
		sw[i] = float32(float64(v) / sum)
	}
	t.net.gradient(x, y, sw, n, t.cfg.LabelSmoothing, t.cfg.L2, t.ws)
	t.net.adam(t.lr)
}

// balancedWeights gives each row the weight n / (present classes · its
// class's count), so every class present weighs the same in total; rows
// weigh 1 when balance is false. With meanOne false the weights are
// scaled to sum to 1 instead.
func balancedWeights(y []int, classes int, balance, meanOne bool) []float32 {
	counts := make([]int, classes)
	for _, c := range y {
		counts[c]++
	}
	present := 0
	for _, c := range counts {
		if c > 0 {
			present++
		}
	}
	n := float64(len(y))
	w := make([]float32, len(y))
	for i, c := range y {
		v := 1.0
		if balance {
			v = n / (float64(present) * float64(counts[c]))
		}
		if !meanOne {
			v /= n
		}
		w[i] = float32(v)
	}
	return w
}

// crossEntropy is Σᵢ wᵢ · -log pᵢ[yᵢ] over n×k probabilities.
func crossEntropy(p []float32, y []int, w []float32, k int) float64 {
	loss := 0.0
	for i, c := range y {
		loss -= float64(w[i]) * math.Log(max(float64(p[i*k+c]), 1e-30))
	}
	return loss
}

// spread picks k of n indices evenly (all of them when n ≤ k).
func spread(n, k int) []int {
	out := make([]int, 0, min(n, k))
	for i := range min(n, k) {
		out = append(out, i*n/min(n, k))
	}
	return out
}

// hitRate is the share of n×k probability rows whose top class is y's.
func hitRate(p []float32, y []int, k int) float64 {
	if len(y) == 0 {
		return 0
	}
	right := 0
	for i, c := range y {
		row := p[i*k : (i+1)*k]
		top := 0
		for j, v := range row {
			if v > row[top] {
				top = j
			}
		}
		if top == c {
			right++
		}
	}
	return float64(right) / float64(len(y))
}
