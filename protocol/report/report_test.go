package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/report.json")

func ptr(v float64) *float64 { return &v }

// validReport is a small, self-consistent report, its figures worked out
// by hand from a 3-label confusion matrix of 20 test images:
//
//	        cat dog bird   (predicted)
//	cat      5   1   0
//	dog      2   6   1
//	bird     0   1   4
func validReport() *Report {
	pc, rc := 5.0/7, 5.0/6
	pd, rd := 6.0/8, 6.0/9
	pb, rb := 4.0/5, 4.0/5
	fc, fd, fb := 2*pc*rc/(pc+rc), 2*pd*rd/(pd+rd), 2*pb*rb/(pb+rb)
	// po = 15/20, pe = (6·7 + 9·8 + 5·5)/400 = 139/400.
	kappa := (15.0/20 - 139.0/400) / (1 - 139.0/400)
	return &Report{
		Schema: SchemaVersion, ModelID: "m1", Version: 2, AppType: "cloud-general",
		Metric: MetricF1, Backbone: "mobilenetv2-12-int8+shufflenet-v2-12-qdq",
		CreatedAt: "2026-11-25T10:00:00Z",
		Metrics: Summary{
			Accuracy: 0.75, Precision: (pc + pd + pb) / 3, Recall: (rc + rd + rb) / 3,
			F1: (fc + fd + fb) / 3, AUC: 0.9, Kappa: kappa,
			TopK: []float64{0.75, 0.95, 1, 1, 1},
		},
		PerLabel: []LabelMetrics{
			{Label: "cat", Precision: pc, Recall: rc, F1: fc, Support: 6, AUC: ptr(0.95)},
			{Label: "dog", Precision: pd, Recall: rd, F1: fd, Support: 9, AUC: ptr(0.8)},
			{Label: "bird", Precision: pb, Recall: rb, F1: fb, Support: 5, AUC: ptr(0.95)},
		},
		Confusion: Confusion{
			Labels: []string{"cat", "dog", "bird"},
			Matrix: [][]int{{5, 1, 0}, {2, 6, 1}, {0, 1, 4}},
		},
		Misclassified: []Misclassified{
			{ImageID: "img-7", Path: "dog/7.jpg", TrueLabel: "dog", PredictedLabel: "cat", Confidence: 0.91},
			{ImageID: "img-3", TrueLabel: "cat", PredictedLabel: "dog", Confidence: 0.6},
		},
		Thresholds: Thresholds{Global: 0.55, PerLabel: map[string]float64{"cat": 0.4, "dog": 0.5, "bird": 0.35}},
		DataChecks: DataChecks{
			Duplicates:     []DuplicateGroup{{SHA256: strings.Repeat("ab", 32), Paths: []string{"cat/1.jpg", "cat/1 (copy).jpg"}, Labels: []string{"cat", "cat"}}},
			NearDuplicates: []NearDuplicate{{Paths: []string{"dog/2.jpg", "dog/9.jpg"}, Labels: []string{"dog", "dog"}, Similarity: 0.985}},
			CrossLabel:     []DuplicateGroup{{SHA256: strings.Repeat("0f", 32), Paths: []string{"cat/5.jpg", "dog/5.jpg"}, Labels: []string{"cat", "dog"}}},
			Imbalance:      Imbalance{MaxRatio: 1.8, SmallestLabel: "bird", SmallestCount: 25, LargestLabel: "dog", LargestCount: 45},
			SuspectedMislabels: []SuspectedMislabel{{ImageID: "img-11", Split: "train", Label: "bird", Predicted: "cat",
				Confidence: 0.97, LabelConfidence: 0.01}},
		},
		Verdict: Verdict{
			ZH: "模型一般。", EN: "The model is fair.", Quality: QualityFair,
			WeakestLabels: []string{"dog"},
			ConfusedPairs: []ConfusedPair{{True: "dog", Predicted: "cat", Count: 2}},
			SmallTest:     true,
		},
		Split: Split{Train: 70, Validation: 20, Test: 20, Seed: 42},
		TrainingSet: []LabelSet{
			{Label: "cat", Images: 30, Train: 19, Validation: 5, Test: 6, Sources: map[string]int{"ds-1": 30}},
			{Label: "dog", Images: 45, Train: 28, Validation: 8, Test: 9},
			{Label: "bird", Images: 35, Train: 23, Validation: 7, Test: 5},
		},
		Skipped: []Skipped{{Path: "bird/x.gif", Label: "bird", Reason: "unsupported_format", Message: "unsupported format"}},
		Candidates: []Candidate{
			{Name: "softmax-a", Kind: "softmax", Params: map[string]float64{"l2": 1e-3}, Scores: map[string]float64{"top1": 0.8, "f1": 0.79},
				ValLoss: 0.5, Epochs: 120, Seconds: 0.4, Chosen: true},
			{Name: "mlp-a", Kind: "mlp", Params: map[string]float64{"hidden": 128}, Scores: map[string]float64{"top1": 0.75, "f1": 0.7},
				ValLoss: 0.6, Epochs: 30, Seconds: 1.2},
		},
		Timings: map[string]float64{"features": 12.5, "train": 1.5, "total": 15},
	}
}

func TestValidReport(t *testing.T) {
	if err := validReport().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	r := validReport()
	data, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip changed the report:\n got %+v\nwant %+v", got, r)
	}
	again, err := Encode(got)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("second encoding differs (err %v)", err)
	}
	golden := filepath.Join("testdata", "report.json")
	if *update {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("Encode differs from %s (run with -update if the change is intended):\n%s", golden, data)
	}
}

// TestEmptyListsEncodeAsEmpty: consumers get [] and {}, never null, and a
// nil list in the caller's report is left alone.
func TestEmptyListsEncodeAsEmpty(t *testing.T) {
	r := validReport()
	r.Misclassified, r.Skipped, r.Candidates = nil, nil, nil
	r.DataChecks = DataChecks{}
	r.Thresholds.PerLabel, r.Timings = nil, nil
	r.Verdict.WeakestLabels, r.Verdict.ConfusedPairs = nil, nil
	data, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("null")) {
		t.Errorf("encoding holds null:\n%s", data)
	}
	for _, key := range []string{`"misclassified": []`, `"skipped": []`, `"candidates": []`, `"timings": {}`, `"duplicates": []`, `"per_label": {}`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("encoding lacks %s", key)
		}
	}
	if r.Misclassified != nil || r.Timings != nil {
		t.Error("Encode modified the caller's report")
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Misclassified == nil || got.Timings == nil || got.DataChecks.SuspectedMislabels == nil {
		t.Error("Parse left a nil list")
	}
}

func TestParseSchema(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       error
	}{
		{"missing", `{}`, ErrSchema},
		{"newer", `{"schema": 99}`, ErrSchema},
		{"not json", `{"schema": 1`, ErrInvalid},
		{"wrong type", `{"schema": 1, "split": {"test": "x"}}`, ErrInvalid},
		{"inconsistent", `{"schema": 1}`, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) = %v, want %v", tc.json, err, tc.want)
			}
		})
	}
}

func TestKappa(t *testing.T) {
	for _, tc := range []struct {
		name   string
		matrix [][]int
		want   float64
	}{
		{"perfect", [][]int{{3, 0}, {0, 2}}, 1},
		{"chance", [][]int{{1, 1}, {1, 1}}, 0},
		{"always wrong", [][]int{{0, 2}, {2, 0}}, -1},
		{"one label only, right", [][]int{{4, 0}, {0, 0}}, 1},
		{"one label predicted for another", [][]int{{0, 4}, {0, 0}}, 0},
		{"empty", [][]int{{0, 0}, {0, 0}}, 0},
		{"hand worked", [][]int{{5, 1, 0}, {2, 6, 1}, {0, 1, 4}}, (0.75 - 0.3475) / 0.6525},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Kappa(tc.matrix); abs(got-tc.want) > 1e-12 {
				t.Fatalf("Kappa = %v, want %v", got, tc.want)
			}
		})
	}
}

// The product documentation's metric spellings name the canonical ones.
func TestParseMetric(t *testing.T) {
	for in, want := range map[string]string{
		"Top1": MetricTop1, "top-5": MetricTop5, "TOP_1": MetricTop1, "precision": MetricPrecision,
		"Recall": MetricRecall, "f1_score": MetricF1, "F1": MetricF1, " f1 ": MetricF1,
	} {
		if got, ok := ParseMetric(in); !ok || got != want {
			t.Errorf("ParseMetric(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "accuracy", "top2", "f2"} {
		if got, ok := ParseMetric(in); ok {
			t.Errorf("ParseMetric(%q) = %q, want refused", in, got)
		}
	}
}
