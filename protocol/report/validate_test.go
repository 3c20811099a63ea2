package report

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestValidateFindsInconsistencies breaks one thing at a time in a valid
// report and checks Validate names it.
func TestValidateFindsInconsistencies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(r *Report)
		want    string
	}{
		{"schema", func(r *Report) { r.Schema = 2 }, "schema is 2"},
		{"metric", func(r *Report) { r.Metric = "auc" }, `metric "auc"`},
		{"created_at", func(r *Report) { r.CreatedAt = "yesterday" }, "created_at"},
		{"accuracy above 1", func(r *Report) { r.Metrics.Accuracy = 1.5 }, "metrics.accuracy 1.5"},
		{"accuracy NaN", func(r *Report) { r.Metrics.Accuracy = math.NaN() }, "metrics.accuracy NaN"},
		{"accuracy off the matrix", func(r *Report) { r.Metrics.Accuracy = 0.8 }, "metrics.accuracy 0.8: the confusion matrix gives 0.75"},
		{"kappa range", func(r *Report) { r.Metrics.Kappa = -1.2 }, "metrics.kappa -1.2: want a value in [-1, 1]"},
		{"kappa off the matrix", func(r *Report) { r.Metrics.Kappa = 0.5 }, "metrics.kappa 0.5: the confusion matrix"},
		{"macro f1", func(r *Report) { r.Metrics.F1 += 0.01 }, "metrics.f1"},
		{"topk length", func(r *Report) { r.Metrics.TopK = r.Metrics.TopK[:3] }, "metrics.topk has 3 values"},
		{"topk falls", func(r *Report) { r.Metrics.TopK[1] = 0.7 }, "cannot fall"},
		{"topk at label count", func(r *Report) { r.Metrics.TopK[2], r.Metrics.TopK[3], r.Metrics.TopK[4] = 0.99, 0.99, 0.99 }, "metrics.topk[2] 0.99: want 1"},
		{"topk[0] is accuracy", func(r *Report) { r.Metrics.TopK[0] = 0.7 }, "metrics.topk[0] 0.7"},
		{"matrix not square", func(r *Report) { r.Confusion.Matrix[1] = r.Confusion.Matrix[1][:2] }, "confusion.matrix[1] has 2 columns"},
		{"matrix rows", func(r *Report) { r.Confusion.Matrix = r.Confusion.Matrix[:2] }, "confusion.matrix has 2 rows"},
		{"matrix sum", func(r *Report) { r.Split.Test = 21; r.TrainingSet[0].Test, r.TrainingSet[0].Images = 7, 31 }, "sums to 20, want split.test 21"},
		{"negative cell", func(r *Report) { r.Confusion.Matrix[0][2] = -1 }, "confusion.matrix[0][2] is -1"},
		{"duplicate label", func(r *Report) { r.Confusion.Labels[2] = "cat" }, `confusion.labels[2] "cat" duplicates`},
		{"one label", func(r *Report) { r.Confusion.Labels = r.Confusion.Labels[:1] }, "want at least 2"},
		{"support", func(r *Report) { r.PerLabel[1].Support = 8 }, `per_label[1] ("dog").support 8: want 9`},
		{"per-label precision", func(r *Report) { r.PerLabel[0].Precision = 0.5 }, `per_label[0] ("cat").precision 0.5`},
		{"per-label unknown", func(r *Report) { r.PerLabel[2].Label = "fish" }, "not in confusion.labels"},
		{"per-label missing", func(r *Report) { r.PerLabel = r.PerLabel[:2] }, "per_label has 2 entries"},
		{"auc average", func(r *Report) { r.Metrics.AUC = 0.5 }, "per-label AUCs average"},
		{"misclassified correct", func(r *Report) { r.Misclassified[0].PredictedLabel = "dog" }, "both \"dog\""},
		{"misclassified too many", func(r *Report) {
			r.Misclassified = append(r.Misclassified, Misclassified{ImageID: "x", TrueLabel: "cat", PredictedLabel: "dog", Confidence: 0.5})
		}, `2 images of "cat" predicted as "dog", the confusion matrix has 1`},
		{"misclassified confidence", func(r *Report) { r.Misclassified[1].Confidence = 2 }, "misclassified[1].confidence 2"},
		{"threshold label", func(r *Report) { r.Thresholds.PerLabel["fish"] = 0.5 }, `thresholds.per_label["fish"]: label not`},
		{"threshold range", func(r *Report) { r.Thresholds.Global = -0.1 }, "thresholds.global -0.1"},
		{"duplicate sha", func(r *Report) { r.DataChecks.Duplicates[0].SHA256 = "XYZ" }, "sha256 \"XYZ\""},
		{"duplicate one path", func(r *Report) {
			g := &r.DataChecks.Duplicates[0]
			g.Paths, g.Labels = g.Paths[:1], g.Labels[:1]
		}, "1 paths, want at least 2"},
		{"duplicate across labels", func(r *Report) { r.DataChecks.Duplicates[0].Labels[1] = "dog" }, "belong in cross_label"},
		{"cross label one label", func(r *Report) { r.DataChecks.CrossLabel[0].Labels[1] = "cat" }, "want at least two labels"},
		{"near duplicate pair", func(r *Report) { r.DataChecks.NearDuplicates[0].Paths = []string{"a"} }, "1 paths and 2 labels"},
		{"imbalance ratio", func(r *Report) { r.DataChecks.Imbalance.MaxRatio = 2 }, "largest_count / smallest_count is 1.8"},
		{"mislabel same label", func(r *Report) { r.DataChecks.SuspectedMislabels[0].Predicted = "bird" }, "want two different labels"},
		{"verdict missing", func(r *Report) { r.Verdict.ZH = "" }, "zh and en"},
		{"verdict quality", func(r *Report) { r.Verdict.Quality = "meh" }, `verdict.quality "meh"`},
		{"verdict pair count", func(r *Report) { r.Verdict.ConfusedPairs[0].Count = 3 }, "confused_pairs[0].count 3"},
		{"training set sum", func(r *Report) { r.TrainingSet[0].Images = 29 }, "images 29"},
		{"training set vs split", func(r *Report) { r.Split.Train = 71 }, "training_set sums to"},
		{"training set vs support", func(r *Report) {
			r.TrainingSet[0].Test, r.TrainingSet[0].Train = 5, 20
		}, `training_set[0] ("cat").test 5: per_label support is 6`},
		{"training set sources", func(r *Report) { r.TrainingSet[0].Sources["ds-2"] = 1 }, "sources count 31"},
		{"skipped reason", func(r *Report) { r.Skipped[0].Reason = "" }, "skipped[0]"},
		{"two chosen", func(r *Report) { r.Candidates[1].Chosen = true }, "2 marked chosen"},
		{"candidate score", func(r *Report) { r.Candidates[0].Scores["auc"] = 0.5 }, `scores["auc"]: not a selection metric`},
		{"candidate loss", func(r *Report) { r.Candidates[0].ValLoss = math.Inf(1) }, "val_loss +Inf"},
		{"timing", func(r *Report) { r.Timings["train"] = -1 }, `timings["train"] -1`},
		{"curve loss NaN", func(r *Report) { r.Curve = []CurvePoint{{Epoch: 1, Loss: math.NaN()}} }, "curve[0].loss NaN"},
		{"curve accuracy", func(r *Report) { r.Curve = []CurvePoint{{Epoch: 1, ValAccuracy: 1.5}} }, "curve[0].val_accuracy 1.5"},
		{"curve epochs", func(r *Report) { r.Curve = []CurvePoint{{Epoch: 2}, {Epoch: 2}} }, "curve[1].epoch 2"},
		{"curve length", func(r *Report) {
			r.Curve = make([]CurvePoint, MaxCurve+1)
			for i := range r.Curve {
				r.Curve[i].Epoch = i + 1
			}
		}, "curve has 1001 epochs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validReport()
			tc.breakIt(r)
			err := r.Validate()
			if err == nil {
				t.Fatal("Validate accepted the broken report")
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSchema) {
				t.Errorf("error %v wraps neither ErrInvalid nor ErrSchema", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestEncodeRefusesInvalid: nothing inconsistent is ever written.
func TestEncodeRefusesInvalid(t *testing.T) {
	r := validReport()
	r.Split.Test = 0
	if _, err := Encode(r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode = %v, want ErrInvalid", err)
	}
}
