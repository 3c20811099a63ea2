package head

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/autocv/autocv/trainer/evaluate"
)

func softmaxConfig() Config { return Grid("general", 1)[0] }

func mlpConfig() Config {
	for _, c := range Grid("general", 1) {
		if c.Kind == KindMLP {
			c.Hidden = 32
			return c
		}
	}
	panic("no mlp in the grid")
}

// TestSeparable: well-separated classes are learnt perfectly by both kinds.
func TestSeparable(t *testing.T) {
	all := blobs(11, 64, repeat(60, 4), 0.3)
	train, val := split(all, 0.75)
	for _, cfg := range []Config{softmaxConfig(), mlpConfig()} {
		t.Run(cfg.Kind, func(t *testing.T) {
			fit, err := Train(context.Background(), train, val, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if acc := accuracy(fit.Head, val); acc != 1 {
				t.Fatalf("validation accuracy %v, want 1", acc)
			}
			if err := fit.Head.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestClassBalance: with one large class and two small, overlapping ones,
// the class-balanced loss recalls the small classes better than the plain
// loss, on a balanced validation split.
func TestClassBalance(t *testing.T) {
	train := blobsFrom(21, 1, 16, []int{600, 30, 30}, 2.5)
	val := blobsFrom(21, 2, 16, []int{200, 200, 200}, 2.5) // the same classes
	recall := func(cfg Config) float64 {
		fit, err := Train(context.Background(), train, val, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return evaluate.Scores(val.Y, fit.Head.PredictBatch(val.X), val.Classes)["recall"]
	}
	cfg := softmaxConfig()
	balanced := recall(cfg)
	cfg.Unbalanced = true
	unbalanced := recall(cfg)
	t.Logf("macro recall: balanced %.3f, unbalanced %.3f", balanced, unbalanced)
	if balanced <= unbalanced+0.02 {
		t.Fatalf("balanced macro recall %.3f does not beat unbalanced %.3f", balanced, unbalanced)
	}
}

// TestEarlyStopping: with random labels the validation loss only gets
// worse after the first epochs, so training stops Patience epochs after
// the best one and keeps the best epoch's weights.
func TestEarlyStopping(t *testing.T) {
	d := blobs(5, 200, repeat(40, 2), 1)
	for i := range d.Y {
		d.Y[i] = (i * 7 / 3) % 2 // labels unrelated to the features
	}
	train, val := split(d, 0.5)
	cfg := softmaxConfig()
	cfg.Patience = 5
	fit, err := Train(context.Background(), train, val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fit.Ran >= cfg.Epochs || fit.Ran != fit.Epochs+cfg.Patience {
		t.Fatalf("ran %d epochs, best %d, patience %d, max %d", fit.Ran, fit.Epochs, cfg.Patience, cfg.Epochs)
	}
	// The kept head is the best epoch's: its loss is the reported one.
	p := fit.Head.forward(val.flat(), val.Len(), nil)
	if got := crossEntropy(p, val.Y, balancedWeights(val.Y, 2, true, false), 2); math.Abs(got-fit.ValLoss) > 1e-6 {
		t.Fatalf("kept head's loss %v, reported %v", got, fit.ValLoss)
	}
}

// TestDeterministic: the same seed gives bit-identical weights (mini-batch
// order and initial weights included); another seed does not.
func TestDeterministic(t *testing.T) {
	all := blobs(8, 96, repeat(50, 3), 2)
	train, val := split(all, 0.7)
	cfg := mlpConfig()
	a, err := Train(context.Background(), train, val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train(context.Background(), train, val, cfg)
	for i := range a.Head.Layers {
		if !slices.Equal(a.Head.Layers[i].W, b.Head.Layers[i].W) || !slices.Equal(a.Head.Layers[i].B, b.Head.Layers[i].B) {
			t.Fatalf("layer %d differs between two runs with seed %d", i, cfg.Seed)
		}
	}
	cfg.Seed++
	c, _ := Train(context.Background(), train, val, cfg)
	if slices.Equal(a.Head.Layers[0].W, c.Head.Layers[0].W) {
		t.Fatal("seeds 1 and 2 gave the same weights")
	}
	r1, _ := Refit(context.Background(), all, cfg, 7)
	r2, _ := Refit(context.Background(), all, cfg, 7)
	if !slices.Equal(r1.Layers[1].W, r2.Layers[1].W) {
		t.Fatal("Refit is not deterministic")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Kind: "svm", LR: 0.1, Epochs: 1},
		{Kind: KindMLP, LR: 0.1, Epochs: 1},
		{Kind: KindSoftmax, LR: 0, Epochs: 1},
		{Kind: KindSoftmax, LR: 0.1, Epochs: 1, LabelSmoothing: 1},
		{Kind: KindSoftmax, LR: 0.1, Epochs: 0},
		{Kind: KindSoftmax, LR: 0.1, Epochs: 1, L2: math.NaN()},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for _, recipe := range []string{"general", "cloud-high-accuracy", "offline-high-performance", "???"} {
		g := Grid(recipe, 3)
		kinds := map[string]int{}
		for _, c := range g {
			if err := c.Validate(); err != nil || c.Seed != 3 {
				t.Errorf("%s: %s: %v", recipe, c.Name(), err)
			}
			kinds[c.Kind]++
		}
		if kinds[KindSoftmax] < 2 || kinds[KindMLP] < 1 || kinds[KindMLP] > 2 {
			t.Errorf("%s grid: %v", recipe, kinds)
		}
	}
}

// TestOutOfFold: a training image filed under the wrong class gets a low
// probability for that class from the model that did not see it.
func TestOutOfFold(t *testing.T) {
	d := blobs(13, 32, repeat(30, 3), 0.5)
	wrong := 4
	d.Y[wrong] = (d.Y[wrong] + 1) % 3
	probs, err := OutOfFold(context.Background(), d, softmaxConfig(), 60, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != d.Len() {
		t.Fatalf("%d rows", len(probs))
	}
	for i, p := range probs {
		if p == nil {
			t.Fatalf("row %d has no prediction", i)
		}
	}
	if p := probs[wrong][d.Y[wrong]]; p > 0.1 {
		t.Fatalf("mislabelled row's own label gets %v", p)
	}
	if _, err := OutOfFold(context.Background(), d, softmaxConfig(), 5, 1); err == nil {
		t.Fatal("1 fold accepted")
	}
}
