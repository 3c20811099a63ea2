package evaluate

import (
	"slices"

	"github.com/autocv/autocv/protocol/report"
)

// Thresholds chooses confidence thresholds from predictions on the
// validation split (the model must not have trained on them):
//
//   - per label l, the threshold t on p(l) for the one-vs-rest decision
//     "answer l when p(l) ≥ t" that gives the best F1 for l;
//   - global, the threshold t on the top-1 probability for "act on the
//     prediction when max p ≥ t" that gives the best F1, where precision is
//     the accuracy of the accepted predictions and recall is the fraction of
//     all images accepted and right (so t = 0 scores the plain accuracy, and
//     raising t pays off while it drops more wrong answers than right ones).
//
// Candidate thresholds are the observed scores; among equally good ones the
// lowest wins (keep answers when nothing is gained by refusing them), and
// the value reported is the midpoint between that score and the next lower
// observed one (or 0), so the decision on the validation split is the same
// but a slightly lower score on a new image is not refused by a hair.
// A label without validation images gets no per-label threshold.
func Thresholds(truth []int, probs [][]float32, labels []string) report.Thresholds {
	th := report.Thresholds{PerLabel: map[string]float64{}}
	if check(truth, probs, len(labels)) != nil {
		return th
	}
	for c, l := range labels {
		if t, _, ok := LabelThreshold(truth, probs, c); ok {
			th.PerLabel[l] = t
		}
	}
	th.Global, _ = GlobalThreshold(truth, probs)
	return th
}

// LabelThreshold returns class c's best-F1 threshold on p(c) and that F1;
// ok is false when no image is of class c.
func LabelThreshold(truth []int, probs [][]float32, c int) (t, f1 float64, ok bool) {
	scored := make([]scoredItem, len(truth))
	positives := 0
	for i, y := range truth {
		scored[i] = scoredItem{score: float64(probs[i][c]), hit: y == c}
		if y == c {
			positives++
		}
	}
	if positives == 0 {
		return 0, 0, false
	}
	// Accepting a positive adds to TP; F1 = 2TP / (TP + FP + P).
	t, f1 = sweep(scored, func(tp, accepted int) float64 {
		return 2 * float64(tp) / float64(accepted+positives)
	})
	return t, f1, true
}

// GlobalThreshold returns the best-F1 threshold on the top-1 probability
// (see Thresholds) and that F1. No images give 0, 0.
func GlobalThreshold(truth []int, probs [][]float32) (t, f1 float64) {
	pred := Predictions(probs)
	scored := make([]scoredItem, len(truth))
	for i, y := range truth {
		scored[i] = scoredItem{score: float64(probs[i][pred[i]]), hit: pred[i] == y}
	}
	n := len(truth)
	return sweep(scored, func(right, accepted int) float64 {
		return 2 * float64(right) / float64(accepted+n)
	})
}

type scoredItem struct {
	score float64
	hit   bool // a true positive when accepted
}

// sweep lowers the threshold through the observed scores, from the highest,
// and returns the threshold with the best f1(hits accepted, accepted); ties
// go to the lowest threshold. The returned threshold is the midpoint
// between the chosen score and the next lower one (0 below the lowest).
func sweep(items []scoredItem, f1 func(hits, accepted int) float64) (float64, float64) {
	if len(items) == 0 {
		return 0, 0
	}
	slices.SortFunc(items, func(a, b scoredItem) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	bestF1, bestAt := -1.0, 0
	hits := 0
	for i := 0; i < len(items); {
		j := i
		for j < len(items) && items[j].score == items[i].score {
			if items[j].hit {
				hits++
			}
			j++
		}
		if f := f1(hits, j); f >= bestF1 {
			bestF1, bestAt = f, j
		}
		i = j
	}
	chosen := items[bestAt-1].score
	below := 0.0
	if bestAt < len(items) {
		below = items[bestAt].score
	}
	return clamp01((chosen + below) / 2), bestF1
}

func clamp01(v float64) float64 {
	return min(max(v, 0), 1)
}
