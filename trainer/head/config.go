package head

import (
	"fmt"
	"strconv"
	"strings"
)

// Head kinds.
const (
	KindSoftmax = "softmax" // multinomial logistic regression: one Dense layer
	KindMLP     = "mlp"     // Dense + ReLU, then Dense
)

// Config is one hyper-parameter setting of the head.
type Config struct {
	Kind           string
	L2             float64 // weight decay: adds L2/2·‖W‖² to the loss (weights, not biases)
	LabelSmoothing float64 // ε: targets are (1-ε)·one-hot + ε/classes
	LR             float64 // Adam learning rate
	Hidden         int     // hidden units (mlp only)
	Epochs         int     // at most this many epochs
	Patience       int     // stop after this many epochs without a better validation loss
	// BatchSize is the mini-batch size; 0 (or ≥ the training set) trains
	// full-batch, one Adam step per epoch.
	BatchSize int
	// Unbalanced turns off class balancing (every image weighs the same).
	// For comparisons; the grid always balances.
	Unbalanced bool
	Seed       uint64 // initial weights and mini-batch order
}

// Validate checks the ranges.
func (c Config) Validate() error {
	switch {
	case c.Kind != KindSoftmax && c.Kind != KindMLP:
		return fmt.Errorf("head: kind %q, want %q or %q", c.Kind, KindSoftmax, KindMLP)
	case c.Kind == KindMLP && c.Hidden < 1:
		return fmt.Errorf("head: mlp with %d hidden units", c.Hidden)
	case !(c.LR > 0):
		return fmt.Errorf("head: learning rate %v, want > 0", c.LR)
	case !(c.L2 >= 0):
		return fmt.Errorf("head: l2 %v, want >= 0", c.L2)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return fmt.Errorf("head: label smoothing %v, want 0 <= ε < 1", c.LabelSmoothing)
	case c.Epochs < 1 || c.Patience < 0 || c.BatchSize < 0:
		return fmt.Errorf("head: epochs %d, patience %d, batch size %d: want epochs >= 1 and the others >= 0",
			c.Epochs, c.Patience, c.BatchSize)
	}
	return nil
}

// Name is a short readable id, e.g. "softmax l2=0.0001 ls=0.1".
func (c Config) Name() string {
	var b strings.Builder
	b.WriteString(c.Kind)
	if c.Kind == KindMLP {
		fmt.Fprintf(&b, " h=%d", c.Hidden)
	}
	fmt.Fprintf(&b, " l2=%s ls=%s lr=%s", num(c.L2), num(c.LabelSmoothing), num(c.LR))
	if c.Unbalanced {
		b.WriteString(" unbalanced")
	}
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Params lists the hyper-parameters for the report.
func (c Config) Params() map[string]float64 {
	p := map[string]float64{
		"l2": c.L2, "label_smoothing": c.LabelSmoothing, "lr": c.LR,
		"max_epochs": float64(c.Epochs), "patience": float64(c.Patience),
		"batch_size": float64(c.BatchSize), "seed": float64(c.Seed),
	}
	if c.Kind == KindMLP {
		p["hidden"] = float64(c.Hidden)
	}
	if c.Unbalanced {
		p["unbalanced"] = 1
	}
	return p
}

// complexity is the number of weights the config trains for dim inputs
// and k classes; Search prefers the lower one on a tie.
func (c Config) complexity(dim, k int) int {
	if c.Kind == KindMLP {
		return dim*c.Hidden + c.Hidden*k
	}
	return dim * k
}

// Grid returns the configurations Search tries for a recipe or application
// type ("general", "high-accuracy", "high-performance", or an application
// type such as "cloud-high-accuracy" that ends in one; anything else gets
// the general grid), all with the given seed.
//
// Softmax regression carries the grid: on the calibration photos it matched
// or beat the MLP everywhere, and weak L2 (1e-4 … 1e-3) with or without
// label smoothing was best. Each grid adds one MLP as a challenger, and
// high-accuracy a second, wider one. Softmax trains full-batch with Adam
// (learning rate 0.02, cosine decay over 200 epochs, patience 20); the MLP
// in mini-batches of 128 (learning rate 0.003, 40 epochs, patience 5).
func Grid(recipe string, seed uint64) []Config {
	soft := func(l2, ls float64) Config {
		return Config{Kind: KindSoftmax, L2: l2, LabelSmoothing: ls, LR: 0.02, Epochs: 200, Patience: 20, Seed: seed}
	}
	mlp := func(hidden int) Config {
		return Config{Kind: KindMLP, Hidden: hidden, L2: 1e-4, LabelSmoothing: 0.1, LR: 0.003,
			Epochs: 40, Patience: 5, BatchSize: 128, Seed: seed}
	}
	switch {
	case strings.HasSuffix(recipe, "high-performance"):
		return []Config{soft(1e-4, 0), soft(1e-3, 0.1), mlp(64)}
	case strings.HasSuffix(recipe, "high-accuracy"):
		return []Config{soft(3e-5, 0), soft(1e-4, 0), soft(1e-4, 0.1), soft(1e-3, 0), soft(1e-3, 0.1), mlp(128), mlp(256)}
	}
	return []Config{soft(1e-4, 0), soft(1e-4, 0.1), soft(1e-3, 0), soft(1e-3, 0.1), mlp(128)}
}
