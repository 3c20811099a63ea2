package evaluate

import (
	"fmt"

	"github.com/autocv/autocv/protocol/report"
)

// dataAdvice turns the dataset checks into sentences, the most serious
// first: photos under two labels, suspected mislabels, imbalance, exact
// duplicates.
func dataAdvice(d *report.DataChecks) (en, zh []string) {
	if n := len(d.CrossLabel); n > 0 {
		g := d.CrossLabel[0]
		en = append(en, fmt.Sprintf("%s filed under more than one label (for example %s under %s); keep each photo under its right label only.",
			count(n, "photo is", "photos are"), g.Paths[0], joinLabels(g.Labels, " and ")))
		zh = append(zh, fmt.Sprintf("有 %d 张照片同时出现在多个标签下（例如 %s 出现在%s下），请只保留在正确的标签中。",
			n, g.Paths[0], joinLabelsZH(g.Labels)))
	}
	if n := len(d.SuspectedMislabels); n > 0 {
		s := d.SuspectedMislabels[0]
		name := s.Path
		if name == "" {
			name = s.ImageID
		}
		en = append(en, fmt.Sprintf("%s may be mislabelled (for example %s is filed under %s but looks like %s); check them.",
			count(n, "training photo", "training photos"), name, s.Label, s.Predicted))
		zh = append(zh, fmt.Sprintf("有 %d 张训练照片可能标注错误（例如 %s 标为「%s」，但看起来像「%s」），请检查。",
			n, name, s.Label, s.Predicted))
	}
	if im := d.Imbalance; im.MaxRatio >= ImbalanceWarnRatio {
		en = append(en, fmt.Sprintf("The labels are uneven: %s has %d images, %s only %d (%.1f×); add photos of %s.",
			im.LargestLabel, im.LargestCount, im.SmallestLabel, im.SmallestCount, im.MaxRatio, im.SmallestLabel))
		zh = append(zh, fmt.Sprintf("各标签图片数量不均衡：「%s」有 %d 张，而「%s」只有 %d 张（相差 %.1f 倍），请为「%s」补充照片。",
			im.LargestLabel, im.LargestCount, im.SmallestLabel, im.SmallestCount, im.MaxRatio, im.SmallestLabel))
	}
	if n := len(d.Duplicates); n > 0 {
		en = append(en, fmt.Sprintf("%s repeated within a label; the copies add nothing.",
			count(n, "photo is", "photos are")))
		zh = append(zh, fmt.Sprintf("有 %d 张照片在同一标签下重复出现，重复的副本没有帮助。", n))
	}
	return en, zh
}

// smallTestWarning says, with the numbers, when the test split is too
// small to trust (see MinTestImages, MinTestPerLabel).
func smallTestWarning(res Result, total int) (en, zh string, small bool) {
	fewest := -1
	for i, l := range res.PerLabel {
		if fewest < 0 || l.Support < res.PerLabel[fewest].Support {
			fewest = i
		}
	}
	if total >= MinTestImages && (fewest < 0 || res.PerLabel[fewest].Support >= MinTestPerLabel) {
		return "", "", false
	}
	en = fmt.Sprintf("Caution: the test split has only %d images", total)
	zh = fmt.Sprintf("注意：测试集只有 %d 张图片", total)
	if fewest >= 0 {
		l := res.PerLabel[fewest]
		en += fmt.Sprintf(" (%s has %d)", l.Label, l.Support)
		zh += fmt.Sprintf("（「%s」仅 %d 张）", l.Label, l.Support)
	}
	en += fmt.Sprintf(", too few to trust these figures; add photos to every label until the test split holds at least %d images and %d per label.",
		MinTestImages, MinTestPerLabel)
	zh += fmt.Sprintf("，数量太少，以上结果仅供参考；请为每个标签补充照片，直到测试集至少有 %d 张图片、每个标签至少 %d 张。",
		MinTestImages, MinTestPerLabel)
	return en, zh, true
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// joinLabels lists the distinct labels in order.
func joinLabels(labels []string, sep string) string {
	out := ""
	for i, l := range distinctInOrder(labels) {
		if i > 0 {
			out += sep
		}
		out += l
	}
	return out
}

func joinLabelsZH(labels []string) string {
	out := ""
	for i, l := range distinctInOrder(labels) {
		if i > 0 {
			out += "和"
		}
		out += "「" + l + "」"
	}
	return out
}

func distinctInOrder(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
