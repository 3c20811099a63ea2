package evaluate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/autocv/autocv/protocol/report"
)

// The test split is too small to trust with fewer than MinTestImages
// images or fewer than MinTestPerLabel images of some label; the verdict
// then says so, with the numbers.
const (
	MinTestImages   = 30
	MinTestPerLabel = 5
)

// Accuracy bands for the verdict's quality word.
const (
	excellentFrom = 0.95
	goodFrom      = 0.90
	fairFrom      = 0.75
)

// ImbalanceWarnRatio is the largest/smallest label ratio from which the
// verdict advises evening the labels out.
const ImbalanceWarnRatio = 3.0

const (
	maxWeakest = 3 // labels named as weakest
	maxPairs   = 3 // confused pairs named
)

// Verdict writes the plain-language summary of test results res, in zh-CN
// and en: a quality word by accuracy band; the weakest labels (lowest F1,
// only those below 1); the most confused pairs (largest off-diagonal
// counts) with advice to add photos of the true label that look like the
// one it is taken for; the dataset problems worth acting on when checks is
// not nil; and a warning when the test split is too small to trust.
func Verdict(res Result, checks *report.DataChecks) report.Verdict {
	v := report.Verdict{Quality: quality(res.Metrics.Accuracy)}
	var en, zh []string
	total, _, _ := matrixTotal(res.Confusion.Matrix)
	en = append(en, fmt.Sprintf("Overall the model is %s: %.1f%% of the %d test images were classified correctly (macro F1 %.2f).",
		v.Quality, 100*res.Metrics.Accuracy, total, res.Metrics.F1))
	zh = append(zh, fmt.Sprintf("模型整体表现%s：%d 张测试图片中 %.1f%% 分类正确（宏平均 F1 为 %.2f）。",
		qualityZH[v.Quality], total, 100*res.Metrics.Accuracy, res.Metrics.F1))

	weak := weakest(res.PerLabel)
	if len(weak) > 0 {
		var e, z []string
		for _, l := range weak {
			v.WeakestLabels = append(v.WeakestLabels, l.Label)
			e = append(e, fmt.Sprintf("%s (F1 %.2f)", l.Label, l.F1))
			z = append(z, fmt.Sprintf("「%s」（F1 %.2f）", l.Label, l.F1))
		}
		en = append(en, "Weakest labels: "+strings.Join(e, ", ")+".")
		zh = append(zh, "表现最弱的标签："+strings.Join(z, "、")+"。")
	}

	v.ConfusedPairs = confusedPairs(res.Confusion)
	if len(v.ConfusedPairs) > 0 {
		var e, z []string
		for _, p := range v.ConfusedPairs {
			e = append(e, fmt.Sprintf("%s taken for %s %s", p.True, p.Predicted, times(p.Count)))
			z = append(z, fmt.Sprintf("「%s」被误认为「%s」%d 次", p.True, p.Predicted, p.Count))
		}
		en = append(en, "Most confused: "+strings.Join(e, "; ")+".")
		zh = append(zh, "最常混淆："+strings.Join(z, "；")+"。")
		top := v.ConfusedPairs[0]
		en = append(en, fmt.Sprintf("Add more photos of %s, especially ones that look like %s (similar angle, lighting or background), and check that no %s photo is filed under %s.",
			top.True, top.Predicted, top.True, top.Predicted))
		zh = append(zh, fmt.Sprintf("建议为「%s」补充更多照片，尤其是容易与「%s」混淆的角度、光线或背景，并检查「%s」的照片中是否混入了「%s」。",
			top.True, top.Predicted, top.Predicted, top.True))
		if len(weak) > 0 && weak[0].Label != top.True {
			en = append(en, fmt.Sprintf("Also add more varied photos of %s.", weak[0].Label))
			zh = append(zh, fmt.Sprintf("同时为「%s」补充更多样的照片。", weak[0].Label))
		}
	} else {
		en = append(en, "Every test image was classified correctly.")
		zh = append(zh, "所有测试图片均分类正确。")
	}

	if checks != nil {
		e, z := dataAdvice(checks)
		en, zh = append(en, e...), append(zh, z...)
	}
	if e, z, small := smallTestWarning(res, total); small {
		v.SmallTest = true
		en, zh = append(en, e), append(zh, z)
	}
	v.EN, v.ZH = strings.Join(en, " "), strings.Join(zh, "")
	return v
}

var qualityZH = map[string]string{
	report.QualityExcellent: "优秀", report.QualityGood: "良好", report.QualityFair: "一般", report.QualityPoor: "较差",
}

func quality(acc float64) string {
	switch {
	case acc >= excellentFrom:
		return report.QualityExcellent
	case acc >= goodFrom:
		return report.QualityGood
	case acc >= fairFrom:
		return report.QualityFair
	}
	return report.QualityPoor
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// weakest returns up to maxWeakest labels with F1 below 1, lowest F1 first
// (ties: more test images first, then label order).
func weakest(per []report.LabelMetrics) []report.LabelMetrics {
	var w []report.LabelMetrics
	for _, l := range per {
		if l.F1 < 1 {
			w = append(w, l)
		}
	}
	slices.SortStableFunc(w, func(a, b report.LabelMetrics) int {
		return cmp.Or(cmp.Compare(a.F1, b.F1), cmp.Compare(b.Support, a.Support))
	})
	return w[:min(len(w), maxWeakest)]
}

// confusedPairs returns up to maxPairs off-diagonal cells with the largest
// counts (ties: matrix order).
func confusedPairs(c report.Confusion) []report.ConfusedPair {
	var pairs []report.ConfusedPair
	for t, row := range c.Matrix {
		for p, n := range row {
			if t != p && n > 0 {
				pairs = append(pairs, report.ConfusedPair{True: c.Labels[t], Predicted: c.Labels[p], Count: n})
			}
		}
	}
	slices.SortStableFunc(pairs, func(a, b report.ConfusedPair) int { return cmp.Compare(b.Count, a.Count) })
	return pairs[:min(len(pairs), maxPairs)]
}

func matrixTotal(m [][]int) (total, trace int, rows []int) {
	rows, _, trace = sums(m)
	for _, r := range rows {
		total += r
	}
	return total, trace, rows
}
