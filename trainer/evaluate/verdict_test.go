package evaluate

import (
	"strings"
	"testing"

	"github.com/autocv/autocv/protocol/report"
)

func verdictFor(t *testing.T, matrix [][]int, labels []string) (Result, report.Verdict) {
	t.Helper()
	truth, probs := fromMatrix(matrix, 0.8)
	res, err := Evaluate(truth, probs, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res, Verdict(res, nil)
}

// TestVerdictNamesWeakestAndConfused: bees is weakest and mostly taken for
// wasps; both languages say so and advise photos of bees that look like
// wasps.
func TestVerdictNamesWeakestAndConfused(t *testing.T) {
	labels := []string{"ants", "bees", "wasps"}
	_, v := verdictFor(t, [][]int{{30, 1, 0}, {2, 20, 9}, {0, 1, 30}}, labels)
	if v.Quality != report.QualityFair || v.SmallTest {
		t.Errorf("quality %q small %v", v.Quality, v.SmallTest)
	}
	if len(v.WeakestLabels) == 0 || v.WeakestLabels[0] != "bees" {
		t.Errorf("weakest = %v", v.WeakestLabels)
	}
	if p := v.ConfusedPairs[0]; p.True != "bees" || p.Predicted != "wasps" || p.Count != 9 {
		t.Errorf("top pair = %+v", p)
	}
	for _, want := range []string{"Weakest labels: bees", "bees taken for wasps 9 times", "Add more photos of bees, especially ones that look like wasps", "fair"} {
		if !strings.Contains(v.EN, want) {
			t.Errorf("en lacks %q:\n%s", want, v.EN)
		}
	}
	for _, want := range []string{"表现最弱的标签：「bees」", "「bees」被误认为「wasps」9 次", "为「bees」补充更多照片，尤其是容易与「wasps」混淆", "一般"} {
		if !strings.Contains(v.ZH, want) {
			t.Errorf("zh lacks %q:\n%s", want, v.ZH)
		}
	}
	if strings.Contains(v.EN, "Caution") {
		t.Errorf("93 test images flagged as too few:\n%s", v.EN)
	}
}

func TestVerdictSmallTest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		matrix [][]int
		want   []string
	}{
		{"few images", [][]int{{10, 0}, {1, 9}}, []string{"only 20 images", "仅 10 张", "只有 20 张"}},
		{"few of one label", [][]int{{40, 0}, {1, 3}}, []string{"only 44 images (dog has 4)", "「dog」仅 4 张"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, v := verdictFor(t, tc.matrix, []string{"cat", "dog"})
			if !v.SmallTest {
				t.Fatal("SmallTest not set")
			}
			for _, w := range tc.want {
				if !strings.Contains(v.EN+v.ZH, w) {
					t.Errorf("verdict lacks %q:\nen: %s\nzh: %s", w, v.EN, v.ZH)
				}
			}
		})
	}
}

func TestVerdictPerfectAndChecks(t *testing.T) {
	res, _ := verdictFor(t, [][]int{{20, 0}, {0, 20}}, []string{"cat", "dog"})
	checks := &report.DataChecks{
		CrossLabel:         []report.DuplicateGroup{{SHA256: sha('1'), Paths: []string{"cat/1.jpg", "dog/1.jpg"}, Labels: []string{"cat", "dog"}}},
		SuspectedMislabels: []report.SuspectedMislabel{{Path: "cat/7.jpg", Label: "cat", Predicted: "dog", Confidence: 0.99}},
		Imbalance:          report.Imbalance{MaxRatio: 4, SmallestLabel: "dog", SmallestCount: 25, LargestLabel: "cat", LargestCount: 100},
	}
	v := Verdict(res, checks)
	if v.Quality != report.QualityExcellent || len(v.WeakestLabels) != 0 || len(v.ConfusedPairs) != 0 {
		t.Errorf("perfect model: %+v", v)
	}
	for _, want := range []string{"Every test image was classified correctly", "cat/1.jpg under cat and dog", "cat/7.jpg is filed under cat but looks like dog", "add photos of dog"} {
		if !strings.Contains(v.EN, want) {
			t.Errorf("en lacks %q:\n%s", want, v.EN)
		}
	}
	for _, want := range []string{"所有测试图片均分类正确", "「cat」和「dog」", "标为「cat」，但看起来像「dog」", "请为「dog」补充照片"} {
		if !strings.Contains(v.ZH, want) {
			t.Errorf("zh lacks %q:\n%s", want, v.ZH)
		}
	}
}
