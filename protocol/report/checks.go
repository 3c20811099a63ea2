package report

// DataChecks are the dataset checks run before training, over every image
// the version was trained and tested on. Each list holds concrete items a
// user can act on; an empty list means the check found nothing.
type DataChecks struct {
	// Duplicates are groups of byte-identical files (same sha256) that all
	// carry one label: harmless for training, but they inflate the test
	// score when copies land in different splits.
	Duplicates []DuplicateGroup `json:"duplicates"`
	// NearDuplicates are pairs of different files that look the same
	// (feature cosine similarity at or above the trainer's threshold).
	NearDuplicates []NearDuplicate `json:"near_duplicates"`
	// CrossLabel are groups of byte-identical files found under more than
	// one label: the same photo cannot be both, so at least one is wrong.
	CrossLabel []DuplicateGroup `json:"cross_label"`
	// Imbalance compares the largest and the smallest label.
	Imbalance Imbalance `json:"imbalance"`
	// SuspectedMislabels are training or validation images whose own label
	// gets a very low probability from a model that did not train on them
	// (out-of-fold prediction), most confident disagreement first.
	SuspectedMislabels []SuspectedMislabel `json:"suspected_mislabels"`
}

// DuplicateGroup is a set of byte-identical files.
type DuplicateGroup struct {
	SHA256 string   `json:"sha256"` // lowercase hex
	Paths  []string `json:"paths"`  // at least two
	// Labels[i] is the label Paths[i] was filed under.
	Labels []string `json:"labels"`
}

// NearDuplicate is a pair of different files that look alike.
type NearDuplicate struct {
	Paths      []string `json:"paths"`  // exactly two
	Labels     []string `json:"labels"` // Labels[i] is Paths[i]'s label
	Similarity float64  `json:"similarity"`
}

// Imbalance describes how uneven the label sizes are.
type Imbalance struct {
	// MaxRatio is LargestCount / SmallestCount (1 when balanced; 0 when
	// there were no labels to compare).
	MaxRatio      float64 `json:"max_ratio"`
	SmallestLabel string  `json:"smallest_label"`
	SmallestCount int     `json:"smallest_count"`
	LargestLabel  string  `json:"largest_label"`
	LargestCount  int     `json:"largest_count"`
}

// SuspectedMislabel is an image whose given label the model strongly
// disagrees with.
type SuspectedMislabel struct {
	ImageID string `json:"image_id"`
	Path    string `json:"path,omitempty"`
	Split   string `json:"split,omitempty"` // "train" or "validation"
	Label   string `json:"label"`           // the label it was filed under
	// Predicted is the label the out-of-fold model chose instead, with
	// Confidence its probability; LabelConfidence is the given label's.
	Predicted       string  `json:"predicted"`
	Confidence      float64 `json:"confidence"`
	LabelConfidence float64 `json:"label_confidence"`
}

// Quality words for Verdict.Quality, by test accuracy (see trainer/evaluate).
const (
	QualityExcellent = "excellent"
	QualityGood      = "good"
	QualityFair      = "fair"
	QualityPoor      = "poor"
)

// Verdict is the plain-language summary that heads the report.
type Verdict struct {
	ZH      string `json:"zh"` // zh-CN
	EN      string `json:"en"`
	Quality string `json:"quality"` // one of the Quality* words
	// WeakestLabels are the labels with the lowest F1, weakest first.
	WeakestLabels []string `json:"weakest_labels,omitempty"`
	// ConfusedPairs are the largest off-diagonal confusion counts.
	ConfusedPairs []ConfusedPair `json:"confused_pairs,omitempty"`
	// SmallTest is set when the test split is too small to trust.
	SmallTest bool `json:"small_test"`
}

// ConfusedPair counts test images of True that were predicted as Predicted.
type ConfusedPair struct {
	True      string `json:"true"`
	Predicted string `json:"predicted"`
	Count     int    `json:"count"`
}
