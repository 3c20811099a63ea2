package report

import (
	"slices"
	"strings"
)

// SchemaVersion is the report layout this code writes. Parse accepts
// exactly the versions this code reads and refuses the rest with ErrSchema.
//
// History:
//
//	1: 2026-11-25 first version; 2026-12-08 the optional curve (older
//	   reports have none, so the version stays).
const SchemaVersion = 1

// Selection metrics: the keys of Candidate.Scores and the values of
// Report.Metric. Precision, recall and f1 are macro averages.
const (
	MetricTop1      = "top1"
	MetricTop5      = "top5"
	MetricPrecision = "precision"
	MetricRecall    = "recall"
	MetricF1        = "f1"
)

// SelectionMetrics lists the selection metrics in the order a user sees them.
func SelectionMetrics() []string {
	return []string{MetricTop1, MetricTop5, MetricPrecision, MetricRecall, MetricF1}
}

// ParseMetric returns the selection metric a user's spelling names: the
// canonical names, and the product documentation's own (Top1, Top5,
// precision, recall, f1_score), case-insensitively and with or without "-"
// or "_" ("top-1", "F1_Score"). ok is false for anything else.
func ParseMetric(s string) (metric string, ok bool) {
	k := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	if k == "f1score" {
		k = MetricF1
	}
	if slices.Contains(SelectionMetrics(), k) {
		return k, true
	}
	return "", false
}

// TopK is how many top-k accuracies Summary.TopK holds (top-1 … top-5).
const TopK = 5

// Report is the evaluation report of one trained model version.
type Report struct {
	Schema    int    `json:"schema"`
	ModelID   string `json:"model_id,omitempty"`
	Version   int    `json:"version,omitempty"`
	AppType   string `json:"app_type,omitempty"`   // e.g. "cloud-general"
	Metric    string `json:"metric,omitempty"`     // the metric the version was selected on
	Backbone  string `json:"backbone,omitempty"`   // backbone id(s) the features came from
	CreatedAt string `json:"created_at,omitempty"` // RFC 3339

	Metrics       Summary         `json:"metrics"`
	PerLabel      []LabelMetrics  `json:"per_label"`
	Confusion     Confusion       `json:"confusion"`
	Misclassified []Misclassified `json:"misclassified"`
	Thresholds    Thresholds      `json:"thresholds"`
	DataChecks    DataChecks      `json:"data_checks"`
	Verdict       Verdict         `json:"verdict"`
	Split         Split           `json:"split"`
	TrainingSet   []LabelSet      `json:"training_set"`
	Skipped       []Skipped       `json:"skipped"`
	Candidates    []Candidate     `json:"candidates"`
	// Curve is the chosen head's training, epoch by epoch (at most
	// MaxCurve points); absent from reports made before it was recorded.
	Curve []CurvePoint `json:"curve,omitempty"`
	// Timings is wall time per stage in seconds, e.g. "checks", "features",
	// "train", "evaluate", "export", "package", "total".
	Timings map[string]float64 `json:"timings"`
	// Machine is what computed these figures. A device with another CPU
	// runs the same package; its answers stay within
	// modelpkg.GoldenTolerance of these (backbones are computed in float).
	Machine *Machine `json:"machine,omitempty"`
}

// Machine describes the computer that evaluated a model.
type Machine struct {
	CPU  string `json:"cpu"`  // brand name, e.g. "AMD EPYC 9B14"
	Arch string `json:"arch"` // GOARCH, e.g. "amd64"
	// CPUFeatures are the instruction sets that choose onnxruntime's
	// kernels, e.g. ["sse4.2", "avx", "avx2", "fma", "avx512f", "avx512vnni"].
	CPUFeatures []string `json:"cpu_features"`
	Runtime     string   `json:"runtime,omitempty"`  // e.g. "onnxruntime 1.29.0"
	Provider    string   `json:"provider,omitempty"` // execution provider of the features: cpu, cuda
}

// Summary holds the headline metrics on the test split.
type Summary struct {
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"` // macro
	Recall    float64 `json:"recall"`    // macro
	F1        float64 `json:"f1"`        // macro: the mean of the per-label F1s
	AUC       float64 `json:"auc"`       // one-vs-rest, macro over labels present in the test split
	Kappa     float64 `json:"kappa"`     // Cohen's kappa, in [-1, 1]
	// TopK[k-1] is the top-k accuracy, k = 1 … 5; TopK[0] equals Accuracy.
	TopK []float64 `json:"topk"`
}

// LabelMetrics are one label's one-vs-rest figures on the test split.
type LabelMetrics struct {
	Label     string  `json:"label"`
	Precision float64 `json:"precision"` // 0 when nothing was predicted as this label
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // test images of this label: the confusion row sum
	// AUC of this label against the rest; nil when the test split has no
	// image of it (or only images of it).
	AUC *float64 `json:"auc,omitempty"`
}

// Confusion is the confusion matrix: Matrix[t][p] counts test images of
// label Labels[t] predicted as Labels[p]. Labels is the model's output order.
type Confusion struct {
	Labels []string `json:"labels"`
	Matrix [][]int  `json:"matrix"`
}

// Misclassified is one test image the model got wrong.
type Misclassified struct {
	ImageID        string  `json:"image_id"`
	Path           string  `json:"path,omitempty"` // where the user knows it from (zip or folder path)
	TrueLabel      string  `json:"true_label"`
	PredictedLabel string  `json:"predicted_label"`
	Confidence     float64 `json:"confidence"` // probability of PredictedLabel
}

// Thresholds are confidence thresholds chosen on the validation split:
// PerLabel[l] is the probability of l at or above which answering l gave
// the best F1 for l; Global is the top-1 probability at or above which a
// prediction is worth acting on. Labels without a validation image have no
// per-label threshold; use Global for them.
type Thresholds struct {
	Global   float64            `json:"global"`
	PerLabel map[string]float64 `json:"per_label"`
}

// Split counts images per split (every view of one image counts once).
type Split struct {
	Train      int    `json:"train"`
	Validation int    `json:"validation"`
	Test       int    `json:"test"`
	Seed       uint64 `json:"seed,omitempty"` // the stratified split's seed
}

// LabelSet is the training-set view of one label: how many usable images
// it had and where they went.
type LabelSet struct {
	Label      string `json:"label"`
	Images     int    `json:"images"` // Train + Validation + Test
	Train      int    `json:"train"`
	Validation int    `json:"validation"`
	Test       int    `json:"test"`
	// Sources counts the label's images per source (dataset id, or the data
	// folder for the standalone CLI).
	Sources map[string]int `json:"sources,omitempty"`
}

// Skipped is one input file that was not used, and why.
type Skipped struct {
	Path    string `json:"path"`
	Label   string `json:"label,omitempty"`
	Reason  string `json:"reason"`            // a stable code, e.g. protocol/imagerules' Reason values
	Message string `json:"message,omitempty"` // a sentence the user can read
}

// Candidate is one configuration of the hyper-parameter search, scored on
// the validation split.
type Candidate struct {
	Name   string             `json:"name"`   // e.g. "softmax-l2=0.001-ls=0.1"
	Kind   string             `json:"kind"`   // "softmax" or "mlp"
	Params map[string]float64 `json:"params"` // e.g. l2, label_smoothing, lr, hidden
	// Scores holds every selection metric (SelectionMetrics()) on the validation split.
	Scores  map[string]float64 `json:"scores"`
	ValLoss float64            `json:"val_loss"` // cross-entropy on the validation split
	Epochs  int                `json:"epochs"`   // epochs early stopping chose
	Seconds float64            `json:"seconds"`  // training wall time
	Chosen  bool               `json:"chosen"`   // the winner, refit on train + validation
}

// MaxCurve is the most epochs a report's curve may hold.
const MaxCurve = 1000

// CurvePoint is one epoch of the chosen head's training on the training
// split: its training loss (cross-entropy, measured on up to a few hundred
// training images after the epoch), training and validation accuracy, and
// the validation loss early stopping watched.
type CurvePoint struct {
	Epoch         int     `json:"epoch"`
	Loss          float64 `json:"loss"`
	TrainAccuracy float64 `json:"train_accuracy"`
	ValAccuracy   float64 `json:"val_accuracy"`
	ValLoss       float64 `json:"val_loss"`
}
