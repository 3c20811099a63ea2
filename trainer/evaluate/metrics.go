package evaluate

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/autocv/autocv/protocol/report"
)

// Result holds the report pieces measured on one split.
type Result struct {
	Metrics       report.Summary
	PerLabel      []report.LabelMetrics
	Confusion     report.Confusion
	Misclassified []report.Misclassified // most confident mistakes first
}

// Fill copies the pieces into rep (metrics, per_label, confusion,
// misclassified); the caller sets split.test to the number of images.
func (r *Result) Fill(rep *report.Report) {
	rep.Metrics = r.Metrics
	rep.PerLabel = r.PerLabel
	rep.Confusion = r.Confusion
	rep.Misclassified = r.Misclassified
}

// Evaluate measures predictions against the truth. ids[i] names image i in
// the misclassified list (pass nil to number them "0", "1", …).
func Evaluate(truth []int, probs [][]float32, labels []string, ids []string) (Result, error) {
	k := len(labels)
	if err := check(truth, probs, k); err != nil {
		return Result{}, err
	}
	if ids != nil && len(ids) != len(truth) {
		return Result{}, fmt.Errorf("evaluate: %d image ids for %d images", len(ids), len(truth))
	}
	pred := Predictions(probs)
	matrix := ConfusionMatrix(truth, pred, k)
	res := Result{Confusion: report.Confusion{Labels: slices.Clone(labels), Matrix: matrix}}
	rows, cols, trace := sums(matrix)

	var sp, sr, sf, sa float64
	aucs := 0
	for c := range k {
		p := ratio(matrix[c][c], cols[c])
		r := ratio(matrix[c][c], rows[c])
		lm := report.LabelMetrics{Label: labels[c], Precision: p, Recall: r, F1: report.F1(p, r), Support: rows[c]}
		if a, ok := AUC(truth, probs, c); ok {
			lm.AUC = &a
			sa += a
			aucs++
		}
		sp, sr, sf = sp+p, sr+r, sf+lm.F1
		res.PerLabel = append(res.PerLabel, lm)
	}
	m := &res.Metrics
	m.Accuracy = ratio(trace, len(truth))
	m.Precision, m.Recall, m.F1 = sp/float64(k), sr/float64(k), sf/float64(k)
	m.AUC = 0.5
	if aucs > 0 {
		m.AUC = sa / float64(aucs)
	}
	m.Kappa = report.Kappa(matrix)
	m.TopK = make([]float64, report.TopK)
	for i := range m.TopK {
		m.TopK[i] = TopK(truth, probs, i+1)
	}
	m.TopK[0] = m.Accuracy // the same count; keep them bit-identical

	res.Misclassified = []report.Misclassified{}
	for i, t := range truth {
		if pred[i] == t {
			continue
		}
		id := fmt.Sprint(i)
		if ids != nil {
			id = ids[i]
		}
		res.Misclassified = append(res.Misclassified, report.Misclassified{
			ImageID: id, TrueLabel: labels[t], PredictedLabel: labels[pred[i]],
			Confidence: float64(probs[i][pred[i]]),
		})
	}
	slices.SortStableFunc(res.Misclassified, func(a, b report.Misclassified) int {
		return cmp.Or(cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(a.ImageID, b.ImageID))
	})
	return res, nil
}

// Scores returns every selection metric (report.SelectionMetrics: top1,
// top5, macro precision, recall and F1) of the predictions, the figures
// model selection compares on the validation split.
func Scores(truth []int, probs [][]float32, classes int) map[string]float64 {
	matrix := ConfusionMatrix(truth, Predictions(probs), classes)
	rows, cols, trace := sums(matrix)
	var sp, sr, sf float64
	for c := range classes {
		p, r := ratio(matrix[c][c], cols[c]), ratio(matrix[c][c], rows[c])
		sp, sr, sf = sp+p, sr+r, sf+report.F1(p, r)
	}
	k := float64(classes)
	return map[string]float64{
		report.MetricTop1:      ratio(trace, len(truth)),
		report.MetricTop5:      TopK(truth, probs, 5),
		report.MetricPrecision: sp / k,
		report.MetricRecall:    sr / k,
		report.MetricF1:        sf / k,
	}
}

// Predictions returns the arg-max class of each row (ties: lowest index).
func Predictions(probs [][]float32) []int {
	pred := make([]int, len(probs))
	for i, row := range probs {
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		pred[i] = best
	}
	return pred
}

// ConfusionMatrix counts m[t][p]: images of class t predicted as p.
// Classes outside [0, classes) are ignored.
func ConfusionMatrix(truth, pred []int, classes int) [][]int {
	m := make([][]int, classes)
	for i := range m {
		m[i] = make([]int, classes)
	}
	for i, t := range truth {
		if p := pred[i]; t >= 0 && t < classes && p >= 0 && p < classes {
			m[t][p]++
		}
	}
	return m
}

// TopK is the fraction of images whose true class is among the k most
// probable (1 when k is at least the number of classes). A class ranks
// above the true one when its probability is higher, or equal with a
// lower index.
func TopK(truth []int, probs [][]float32, k int) float64 {
	if len(truth) == 0 {
		return 0
	}
	hits := 0
	for i, t := range truth {
		row, above := probs[i], 0
		for c, v := range row {
			if v > row[t] || v == row[t] && c < t {
				above++
			}
		}
		if above < k {
			hits++
		}
	}
	return float64(hits) / float64(len(truth))
}

func sums(m [][]int) (rows, cols []int, trace int) {
	rows, cols = make([]int, len(m)), make([]int, len(m))
	for i, row := range m {
		for j, v := range row {
			rows[i] += v
			cols[j] += v
		}
		trace += row[i]
	}
	return rows, cols, trace
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// check validates the shapes every function here relies on.
func check(truth []int, probs [][]float32, classes int) error {
	if classes < 2 {
		return fmt.Errorf("evaluate: %d labels, want at least 2", classes)
	}
	if len(probs) != len(truth) {
		return fmt.Errorf("evaluate: %d probability rows for %d images", len(probs), len(truth))
	}
	for i, row := range probs {
		if len(row) != classes {
			return fmt.Errorf("evaluate: row %d has %d probabilities, want %d (one per label)", i, len(row), classes)
		}
		if t := truth[i]; t < 0 || t >= classes {
			return fmt.Errorf("evaluate: image %d has class %d, want 0 to %d", i, t, classes-1)
		}
	}
	return nil
}
