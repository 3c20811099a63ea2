package report

import (
	"fmt"
	"math"
	"sort"
)

func (d *DataChecks) validate(p *problems) {
	for i, g := range d.Duplicates {
		field := fmt.Sprintf("data_checks.duplicates[%d]", i)
		if g.validate(p, field) && len(distinct(g.Labels)) != 1 {
			p.add("%s: files under %d labels belong in cross_label", field, len(distinct(g.Labels)))
		}
	}
	for i, g := range d.CrossLabel {
		field := fmt.Sprintf("data_checks.cross_label[%d]", i)
		if g.validate(p, field) && len(distinct(g.Labels)) < 2 {
			p.add("%s: all files carry label %q, want at least two labels", field, g.Labels[0])
		}
	}
	for i, n := range d.NearDuplicates {
		field := fmt.Sprintf("data_checks.near_duplicates[%d]", i)
		if len(n.Paths) != 2 || len(n.Labels) != 2 {
			p.add("%s: %d paths and %d labels, want 2 of each", field, len(n.Paths), len(n.Labels))
		}
		if !finite(n.Similarity) || n.Similarity < -1 || n.Similarity > 1 {
			p.add("%s.similarity %v: want a value in [-1, 1]", field, n.Similarity)
		}
	}
	im := &d.Imbalance
	switch {
	case im.SmallestCount < 0 || im.LargestCount < im.SmallestCount:
		p.add("data_checks.imbalance counts %d (smallest) and %d (largest): want 0 <= smallest <= largest",
			im.SmallestCount, im.LargestCount)
	case im.SmallestCount > 0:
		if want := float64(im.LargestCount) / float64(im.SmallestCount); math.Abs(im.MaxRatio-want) > tolerance {
			p.add("data_checks.imbalance.max_ratio %v: largest_count / smallest_count is %v", im.MaxRatio, want)
		}
	case im.MaxRatio != 0:
		p.add("data_checks.imbalance.max_ratio %v: want 0 when smallest_count is 0", im.MaxRatio)
	}
	for i, s := range d.SuspectedMislabels {
		field := fmt.Sprintf("data_checks.suspected_mislabels[%d]", i)
		if s.ImageID == "" && s.Path == "" {
			p.add("%s: want an image_id or a path", field)
		}
		if s.Label == "" || s.Predicted == "" || s.Label == s.Predicted {
			p.add("%s: label %q and predicted %q: want two different labels", field, s.Label, s.Predicted)
		}
		fraction(p, field+".confidence", s.Confidence)
		fraction(p, field+".label_confidence", s.LabelConfidence)
	}
}

// validate checks one duplicate group and reports whether its labels may
// be inspected further.
func (g *DuplicateGroup) validate(p *problems, field string) bool {
	if !isSHA256(g.SHA256) {
		p.add("%s.sha256 %q: want 64 lowercase hex digits", field, g.SHA256)
	}
	if len(g.Paths) < 2 {
		p.add("%s: %d paths, want at least 2", field, len(g.Paths))
	}
	if len(g.Labels) != len(g.Paths) {
		p.add("%s: %d labels for %d paths, want one label per path", field, len(g.Labels), len(g.Paths))
		return false
	}
	return len(g.Labels) > 0
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func distinct(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func (r *Report) validateVerdict(p *problems, index map[string]int) {
	v := &r.Verdict
	if v.ZH == "" || v.EN == "" {
		p.add("verdict: zh and en must both be written")
	}
	switch v.Quality {
	case QualityExcellent, QualityGood, QualityFair, QualityPoor:
	default:
		p.add("verdict.quality %q: want %q, %q, %q or %q", v.Quality, QualityExcellent, QualityGood, QualityFair, QualityPoor)
	}
	for i, l := range v.WeakestLabels {
		if _, ok := index[l]; !ok {
			p.add("verdict.weakest_labels[%d] %q: not in confusion.labels", i, l)
		}
	}
	for i, c := range v.ConfusedPairs {
		t, okT := index[c.True]
		pr, okP := index[c.Predicted]
		if !okT || !okP || t == pr {
			p.add("verdict.confused_pairs[%d] %q → %q: want two different labels from confusion.labels", i, c.True, c.Predicted)
			continue
		}
		if r.Confusion.square() && c.Count != r.Confusion.Matrix[t][pr] {
			p.add("verdict.confused_pairs[%d].count %d: the confusion matrix has %d", i, c.Count, r.Confusion.Matrix[t][pr])
		}
	}
}

func (r *Report) validateSplit(p *problems, index map[string]int) {
	s := &r.Split
	if s.Train < 0 || s.Validation < 0 || s.Test < 0 {
		p.add("split {train %d, validation %d, test %d}: want counts >= 0", s.Train, s.Validation, s.Test)
	}
	support := make(map[string]int, len(r.PerLabel))
	for _, pl := range r.PerLabel {
		support[pl.Label] = pl.Support
	}
	var sum Split
	seen := make(map[string]bool, len(r.TrainingSet))
	for i, l := range r.TrainingSet {
		field := fmt.Sprintf("training_set[%d] (%q)", i, l.Label)
		if seen[l.Label] || l.Label == "" {
			p.add("%s: empty or repeated label", field)
		}
		seen[l.Label] = true
		if l.Train < 0 || l.Validation < 0 || l.Test < 0 || l.Images != l.Train+l.Validation+l.Test {
			p.add("%s: images %d, want train %d + validation %d + test %d", field, l.Images, l.Train, l.Validation, l.Test)
		}
		if _, ok := index[l.Label]; !ok {
			p.add("%s: label not in confusion.labels", field)
		} else if n, ok := support[l.Label]; ok && n != l.Test {
			p.add("%s.test %d: per_label support is %d", field, l.Test, n)
		}
		sources := 0
		for _, n := range l.Sources {
			sources += n
		}
		if len(l.Sources) > 0 && sources != l.Images {
			p.add("%s: sources count %d images, want %d", field, sources, l.Images)
		}
		sum.Train, sum.Validation, sum.Test = sum.Train+l.Train, sum.Validation+l.Validation, sum.Test+l.Test
	}
	if len(r.TrainingSet) > 0 && (sum.Train != s.Train || sum.Validation != s.Validation || sum.Test != s.Test) {
		p.add("training_set sums to {train %d, validation %d, test %d}, want split {train %d, validation %d, test %d}",
			sum.Train, sum.Validation, sum.Test, s.Train, s.Validation, s.Test)
	}
	for i, sk := range r.Skipped {
		if sk.Path == "" || sk.Reason == "" {
			p.add("skipped[%d]: path %q and reason %q must both be set", i, sk.Path, sk.Reason)
		}
	}
}

func (r *Report) validateCandidates(p *problems) {
	chosen := 0
	for i, c := range r.Candidates {
		field := fmt.Sprintf("candidates[%d] (%q)", i, c.Name)
		if c.Name == "" || c.Kind == "" {
			p.add("%s: name and kind must both be set", field)
		}
		for _, k := range sortedKeys(c.Params) {
			if !finite(c.Params[k]) {
				p.add("%s.params[%q] %v: want a finite number", field, k, c.Params[k])
			}
		}
		for _, k := range sortedKeys(c.Scores) {
			if !isMetric(k) {
				p.add("%s.scores[%q]: not a selection metric", field, k)
			}
			fraction(p, fmt.Sprintf("%s.scores[%q]", field, k), c.Scores[k])
		}
		if !finite(c.ValLoss) || c.ValLoss < 0 {
			p.add("%s.val_loss %v: want >= 0", field, c.ValLoss)
		}
		if c.Epochs < 0 || !finite(c.Seconds) || c.Seconds < 0 {
			p.add("%s: epochs %d and seconds %v: want >= 0", field, c.Epochs, c.Seconds)
		}
		if c.Chosen {
			chosen++
		}
	}
	if len(r.Candidates) > 0 && chosen != 1 {
		p.add("candidates: %d marked chosen, want exactly 1", chosen)
	}
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
