package evaluate

import (
	"math/rand/v2"
	"testing"
)

// TestLabelThreshold: class 0's scores are, highest first,
//
//	0.9 +   0.8 +   0.7 -   0.6 +   0.3 -   0.2 -
//
// F1 = 2TP / (accepted + 3 positives) at each cut:
// 2/4, 4/5, 4/6, 6/7, 6/8, 6/9. The best is 6/7 accepting down to 0.6, and
// the threshold is the midpoint to the next score, (0.6 + 0.3) / 2.
func TestLabelThreshold(t *testing.T) {
	scores := []float32{0.9, 0.8, 0.7, 0.6, 0.3, 0.2}
	truth := []int{0, 0, 1, 0, 1, 1}
	probs := make([][]float32, len(scores))
	for i, s := range scores {
		probs[i] = []float32{s, 1 - s}
	}
	th, f1, ok := LabelThreshold(truth, probs, 0)
	if !ok || !near(f1, 6.0/7) || !nearF32(th, 0.45) {
		t.Fatalf("LabelThreshold = %v, F1 %v, %v; want 0.45, 6/7", th, f1, ok)
	}
	// The threshold reproduces the chosen decisions.
	for i, s := range scores {
		if accepted := float64(s) >= th; accepted != (i <= 3) {
			t.Errorf("score %v accepted=%v at threshold %v", s, accepted, th)
		}
	}
	if _, _, ok := LabelThreshold([]int{1, 1}, [][]float32{{0.2, 0.8}, {0.1, 0.9}}, 0); ok {
		t.Error("threshold for a label with no images")
	}
}

// TestLabelThresholdSeparable: when a cut separates the label perfectly,
// the threshold falls between the lowest positive and the highest negative.
func TestLabelThresholdSeparable(t *testing.T) {
	truth := []int{0, 0, 1, 1}
	probs := [][]float32{{0.95, 0.05}, {0.7, 0.3}, {0.4, 0.6}, {0.1, 0.9}}
	th, f1, _ := LabelThreshold(truth, probs, 0)
	if f1 != 1 || !nearF32(th, 0.55) {
		t.Fatalf("threshold %v F1 %v, want 0.55 and 1", th, f1)
	}
}

// TestGlobalThreshold: top-1 confidences, highest first, with whether the
// prediction was right:
//
//	0.95 ✓  0.9 ✓  0.8 ✗  0.7 ✗  0.65 ✓  0.5 ✗   (n = 6)
//
// F1 = 2·right / (accepted + 6): 2/7, 4/8, 4/9, 4/10, 6/11, 6/12. The best
// is 6/11 accepting down to 0.65: threshold (0.65 + 0.5) / 2.
func TestGlobalThreshold(t *testing.T) {
	rows := []struct {
		conf  float32
		right bool
	}{{0.95, true}, {0.9, true}, {0.8, false}, {0.7, false}, {0.65, true}, {0.5, false}}
	var truth []int
	var probs [][]float32
	for _, r := range rows {
		probs = append(probs, []float32{r.conf, 1 - r.conf})
		if r.right {
			truth = append(truth, 0)
		} else {
			truth = append(truth, 1)
		}
	}
	th, f1 := GlobalThreshold(truth, probs)
	if !near(f1, 6.0/11) || !nearF32(th, 0.575) {
		t.Fatalf("GlobalThreshold = %v, F1 %v; want 0.575, 6/11", th, f1)
	}
	// All right: accept everything; the threshold is below every score.
	th, f1 = GlobalThreshold([]int{0, 0}, [][]float32{{0.9, 0.1}, {0.6, 0.4}})
	if f1 != 1 || th > 0.6 {
		t.Fatalf("all right: threshold %v F1 %v", th, f1)
	}
}

func TestThresholdsRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		truth, probs := randomPredictions(rng, 40, 4, 0.7)
		th := Thresholds(truth, probs, names(4))
		if th.Global < 0 || th.Global > 1 {
			t.Fatalf("global %v", th.Global)
		}
		for l, v := range th.PerLabel {
			if v < 0 || v > 1 {
				t.Fatalf("%s: %v", l, v)
			}
		}
	}
}

// nearF32 compares thresholds, which are midpoints of float32 scores.
func nearF32(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
