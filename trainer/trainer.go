// Package trainer turns labelled photos into a model package: it extracts
// backbone features (trainer/features), trains and selects a head
// (trainer/head), evaluates it on the untouched test split
// (trainer/evaluate), exports one ONNX graph (trainer/graph) and packages it
// (protocol/modelpkg). The CLI (`autocv-trainer train`) and the worker
// (`autocv-trainer worker`, trainer/worker) both call Train.
package trainer

import (
	"crypto/ed25519"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
)

// Item is one photo to train or evaluate on.
type Item struct {
	ID     string // stable id shown in the report (a relative path in the CLI)
	Label  string
	Split  string // jobs.SplitTrain, SplitValidation or SplitTest
	Path   string // the image file
	SHA256 string // lowercase hex; the feature cache key
	Source string // where it came from, for the training-set view
}

// Input is what to train.
type Input struct {
	ModelID string
	Version int
	AppType string // jobs.CloudGeneral …; decides the recipe
	Metric  string // top1 | top5 | precision | recall | f1
	Seed    uint64
	Labels  []string // class order of the model's output
	Items   []Item
	// Skipped lists files left out before training (rule breakers,
	// duplicates); they go into the report.
	Skipped []report.Skipped
	// Checks are data checks found before training (duplicates …).
	Checks report.DataChecks
}

// Options say how to train.
type Options struct {
	BackbonesDir string             // AUTOCV_BACKBONES: backbone .onnx files (+ descriptors)
	CacheDir     string             // feature cache; "" = the user's cache folder
	Device       string             // cpu | cuda | auto
	Key          ed25519.PrivateKey // signs the package (and OUT/signing.pub is written); nil leaves it unsigned
	Logger       *zap.Logger
	Progress     func(jobs.Progress)
	// LeaveOutUndecodable leaves out a photo that does not decode and
	// lists it in the report, for input whose pixels nobody has decoded
	// yet (a folder: dataset.Scan reads headers only). Without it such a
	// photo fails the training: the control plane decoded every image at
	// import, so one that fails now is a fault to report, not data.
	LeaveOutUndecodable bool
}

// Result is what Train wrote.
type Result struct {
	PackagePath string // OUT/package.tar.gz
	ReportPath  string // OUT/report.json
	Report      *report.Report
}

// Metrics is the headline for the job API.
func (r *Result) Metrics() map[string]float64 {
	m := r.Report.Metrics
	out := map[string]float64{"accuracy": m.Accuracy, "precision": m.Precision, "recall": m.Recall, "f1": m.F1, "auc": m.AUC, "kappa": m.Kappa}
	for i, v := range m.TopK {
		out["top"+string(rune('1'+i))] = v
	}
	return out
}
