package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// tolerance is how far a stored figure may sit from the one recomputed
// from the confusion matrix (JSON keeps float64 exactly; this absorbs the
// producer's summation order).
const tolerance = 1e-6

const maxProblems = 20

// problems collects validation failures so one error lists them all.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	shown, more := p, ""
	if len(shown) > maxProblems {
		more = fmt.Sprintf("; and %d more", len(shown)-maxProblems)
		shown = shown[:maxProblems]
	}
	return fmt.Errorf("%w: %s%s", ErrInvalid, strings.Join(shown, "; "), more)
}

// Validate checks that the report agrees with itself: fractions in
// [0, 1] and kappa in [-1, 1]; a square confusion matrix over distinct
// labels that sums to split.test; accuracy, kappa and top-1 equal to what
// the matrix gives; per-label support equal to the row sums and per-label
// precision, recall and F1 equal to the matrix's; macro averages equal to
// the per-label means; misclassified images consistent with the matrix;
// thresholds, data checks, training-set view, candidates and timings well
// formed. An unknown schema wraps ErrSchema, everything else ErrInvalid;
// the message names each bad field and its value.
func (r *Report) Validate() error {
	if r.Schema != SchemaVersion {
		return schemaError(r.Schema)
	}
	var p problems
	if r.Metric != "" && !isMetric(r.Metric) {
		p.add("metric %q: want one of %s", r.Metric, strings.Join(SelectionMetrics(), ", "))
	}
	if r.Version < 0 {
		p.add("version %d: want >= 0", r.Version)
	}
	if r.CreatedAt != "" {
		if _, err := time.Parse(time.RFC3339, r.CreatedAt); err != nil {
			p.add("created_at %q: want RFC 3339", r.CreatedAt)
		}
	}
	index := r.validateConfusion(&p)
	r.validateSummary(&p)
	r.validatePerLabel(&p, index)
	r.validateMisclassified(&p, index)
	r.validateThresholds(&p, index)
	r.DataChecks.validate(&p)
	r.validateVerdict(&p, index)
	r.validateSplit(&p, index)
	r.validateCandidates(&p)
	r.validateCurve(&p)
	for _, stage := range sortedKeys(r.Timings) {
		if s := r.Timings[stage]; !finite(s) || s < 0 {
			p.add("timings[%q] %v: want seconds >= 0", stage, s)
		}
	}
	return p.err()
}

func isMetric(m string) bool {
	for _, s := range SelectionMetrics() {
		if s == m {
			return true
		}
	}
	return false
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// fraction adds a problem unless v is in [0, 1].
func fraction(p *problems, field string, v float64) {
	if !finite(v) || v < 0 || v > 1 {
		p.add("%s %v: want a fraction in [0, 1]", field, v)
	}
}

// near adds a problem unless got is within tolerance of want.
func near(p *problems, field string, got, want float64) {
	if math.Abs(got-want) > tolerance {
		p.add("%s %v: the confusion matrix gives %v", field, got, want)
	}
}

// validateConfusion checks the labels and the matrix and returns the
// label → index map the other checks use (labels that repeat keep their
// first index).
func (r *Report) validateConfusion(p *problems) map[string]int {
	c := &r.Confusion
	k := len(c.Labels)
	if k < 2 {
		p.add("confusion.labels: %d given, want at least 2", k)
	}
	index := make(map[string]int, k)
	for i, l := range c.Labels {
		if l == "" {
			p.add("confusion.labels[%d] is empty", i)
		}
		if j, dup := index[l]; dup {
			p.add("confusion.labels[%d] %q duplicates confusion.labels[%d]", i, l, j)
			continue
		}
		index[l] = i
	}
	if len(c.Matrix) != k {
		p.add("confusion.matrix has %d rows, want %d (one per label)", len(c.Matrix), k)
	}
	total := 0
	for i, row := range c.Matrix {
		if len(row) != k {
			p.add("confusion.matrix[%d] has %d columns, want %d", i, len(row), k)
		}
		for j, v := range row {
			if v < 0 {
				p.add("confusion.matrix[%d][%d] is %d, want >= 0", i, j, v)
			}
			total += v
		}
	}
	if total != r.Split.Test {
		p.add("confusion.matrix sums to %d, want split.test %d", total, r.Split.Test)
	}
	return index
}

// square reports whether the matrix is k×k, so the recomputations below
// may index it freely.
func (c *Confusion) square() bool {
	if len(c.Matrix) != len(c.Labels) {
		return false
	}
	for _, row := range c.Matrix {
		if len(row) != len(c.Labels) {
			return false
		}
	}
	return true
}

// counts returns the matrix's total, trace, row sums and column sums.
func (c *Confusion) counts() (total, trace int, rows, cols []int) {
	k := len(c.Labels)
	rows, cols = make([]int, k), make([]int, k)
	for i, row := range c.Matrix {
		for j, v := range row {
			total += v
			rows[i] += v
			cols[j] += v
		}
		trace += row[i]
	}
	return total, trace, rows, cols
}

// validateCurve checks the training curve: at most MaxCurve epochs,
// numbered upwards from 1, finite losses ≥ 0 and accuracies in [0, 1].
func (r *Report) validateCurve(p *problems) {
	if len(r.Curve) > MaxCurve {
		p.add("curve has %d epochs; at most %d are allowed", len(r.Curve), MaxCurve)
		return
	}
	prev := 0
	for i, c := range r.Curve {
		if c.Epoch <= prev {
			p.add("curve[%d].epoch %d: want epochs from 1 upwards", i, c.Epoch)
		}
		prev = c.Epoch
		if !finite(c.Loss) || c.Loss < 0 {
			p.add("curve[%d].loss %v: want a finite number >= 0", i, c.Loss)
		}
		if !finite(c.ValLoss) || c.ValLoss < 0 {
			p.add("curve[%d].val_loss %v: want a finite number >= 0", i, c.ValLoss)
		}
		fraction(p, fmt.Sprintf("curve[%d].train_accuracy", i), c.TrainAccuracy)
		fraction(p, fmt.Sprintf("curve[%d].val_accuracy", i), c.ValAccuracy)
	}
}
