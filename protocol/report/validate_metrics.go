package report

import "fmt"

// ratio is a/b, or 0 when b is 0: the convention for a precision with no
// predictions and a recall with no support.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// F1 is the harmonic mean of precision and recall, 0 when both are 0.
func F1(precision, recall float64) float64 {
	if precision+recall == 0 {
		return 0
	}
	return 2 * precision * recall / (precision + recall)
}

// Kappa returns Cohen's kappa of a confusion matrix (rows true, columns
// predicted): (po - pe) / (1 - pe) with po the observed agreement and pe
// the agreement expected by chance from the row and column totals. When
// pe is 1 (every image true and predicted as one label) kappa is undefined;
// Kappa then returns 1 if po is 1 and 0 otherwise. An empty matrix gives 0.
func Kappa(matrix [][]int) float64 {
	c := Confusion{Labels: make([]string, len(matrix)), Matrix: matrix}
	if !c.square() {
		return 0
	}
	total, trace, rows, cols := c.counts()
	if total == 0 {
		return 0
	}
	n := float64(total)
	po := float64(trace) / n
	pe := 0.0
	for i := range rows {
		pe += float64(rows[i]) * float64(cols[i]) / (n * n)
	}
	if pe >= 1 {
		if po == 1 {
			return 1
		}
		return 0
	}
	return (po - pe) / (1 - pe)
}

func (r *Report) validateSummary(p *problems) {
	m := &r.Metrics
	fraction(p, "metrics.accuracy", m.Accuracy)
	fraction(p, "metrics.precision", m.Precision)
	fraction(p, "metrics.recall", m.Recall)
	fraction(p, "metrics.f1", m.F1)
	fraction(p, "metrics.auc", m.AUC)
	if !finite(m.Kappa) || m.Kappa < -1 || m.Kappa > 1 {
		p.add("metrics.kappa %v: want a value in [-1, 1]", m.Kappa)
	}
	if len(m.TopK) != TopK {
		p.add("metrics.topk has %d values, want %d (top-1 … top-%d)", len(m.TopK), TopK, TopK)
	}
	for i, v := range m.TopK {
		fraction(p, fmt.Sprintf("metrics.topk[%d]", i), v)
		if i > 0 && v < m.TopK[i-1] {
			p.add("metrics.topk[%d] %v is below topk[%d] %v: top-k accuracy cannot fall as k grows", i, v, i-1, m.TopK[i-1])
		}
	}
	c := &r.Confusion
	if !c.square() {
		return
	}
	total, trace, rows, cols := c.counts()
	if total == 0 {
		return
	}
	near(p, "metrics.accuracy", m.Accuracy, ratio(trace, total))
	near(p, "metrics.kappa", m.Kappa, Kappa(c.Matrix))
	if len(m.TopK) > 0 {
		near(p, "metrics.topk[0]", m.TopK[0], ratio(trace, total))
	}
	for k := len(c.Labels); k >= 1 && k <= len(m.TopK); k++ {
		if m.TopK[k-1] != 1 {
			p.add("metrics.topk[%d] %v: want 1 (top-%d of %d labels always holds the true one)", k-1, m.TopK[k-1], k, len(c.Labels))
		}
	}
	var sp, sr, sf float64
	for i := range rows {
		pi, ri := ratio(c.Matrix[i][i], cols[i]), ratio(c.Matrix[i][i], rows[i])
		sp, sr, sf = sp+pi, sr+ri, sf+F1(pi, ri)
	}
	k := float64(len(rows))
	near(p, "metrics.precision", m.Precision, sp/k)
	near(p, "metrics.recall", m.Recall, sr/k)
	near(p, "metrics.f1", m.F1, sf/k)
}

func (r *Report) validatePerLabel(p *problems, index map[string]int) {
	c := &r.Confusion
	if len(r.PerLabel) != len(c.Labels) {
		p.add("per_label has %d entries, want %d (one per confusion label)", len(r.PerLabel), len(c.Labels))
	}
	var rows, cols []int
	ok := c.square()
	if ok {
		_, _, rows, cols = c.counts()
	}
	seen := make(map[string]bool, len(r.PerLabel))
	var aucSum float64
	aucs := 0
	for n, l := range r.PerLabel {
		field := fmt.Sprintf("per_label[%d] (%q)", n, l.Label)
		i, known := index[l.Label]
		switch {
		case !known:
			p.add("%s: label not in confusion.labels", field)
		case seen[l.Label]:
			p.add("%s: label listed twice", field)
		}
		seen[l.Label] = true
		fraction(p, field+".precision", l.Precision)
		fraction(p, field+".recall", l.Recall)
		fraction(p, field+".f1", l.F1)
		if l.AUC != nil {
			fraction(p, field+".auc", *l.AUC)
			aucSum += *l.AUC
			aucs++
		}
		if !known || !ok {
			continue
		}
		if l.Support != rows[i] {
			p.add("%s.support %d: want %d, the confusion row sum", field, l.Support, rows[i])
		}
		prec, rec := ratio(c.Matrix[i][i], cols[i]), ratio(c.Matrix[i][i], rows[i])
		near(p, field+".precision", l.Precision, prec)
		near(p, field+".recall", l.Recall, rec)
		near(p, field+".f1", l.F1, F1(prec, rec))
	}
	if aucs > 0 {
		if want := aucSum / float64(aucs); abs(r.Metrics.AUC-want) > tolerance {
			p.add("metrics.auc %v: the per-label AUCs average %v", r.Metrics.AUC, want)
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func (r *Report) validateMisclassified(p *problems, index map[string]int) {
	c := &r.Confusion
	ok := c.square()
	listed := make(map[[2]int]int)
	for n, m := range r.Misclassified {
		field := fmt.Sprintf("misclassified[%d]", n)
		if m.ImageID == "" {
			p.add("%s.image_id is empty", field)
		}
		fraction(p, field+".confidence", m.Confidence)
		t, okT := index[m.TrueLabel]
		pr, okP := index[m.PredictedLabel]
		switch {
		case !okT:
			p.add("%s.true_label %q: not in confusion.labels", field, m.TrueLabel)
		case !okP:
			p.add("%s.predicted_label %q: not in confusion.labels", field, m.PredictedLabel)
		case t == pr:
			p.add("%s: true_label and predicted_label are both %q", field, m.TrueLabel)
		default:
			listed[[2]int{t, pr}]++
		}
	}
	if !ok {
		return
	}
	for i, row := range c.Matrix {
		for j, have := range row {
			if n := listed[[2]int{i, j}]; n > have {
				p.add("misclassified lists %d images of %q predicted as %q, the confusion matrix has %d",
					n, c.Labels[i], c.Labels[j], have)
			}
		}
	}
}

func (r *Report) validateThresholds(p *problems, index map[string]int) {
	fraction(p, "thresholds.global", r.Thresholds.Global)
	for l, t := range r.Thresholds.PerLabel {
		if _, ok := index[l]; !ok {
			p.add("thresholds.per_label[%q]: label not in confusion.labels", l)
		}
		fraction(p, fmt.Sprintf("thresholds.per_label[%q]", l), t)
	}
}
