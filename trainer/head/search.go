package head

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer/evaluate"
)

// Candidate is one trained configuration of a search, scored on the
// validation split.
type Candidate struct {
	Config Config
	// Scores holds every selection metric on the validation split:
	// top1, top5, and macro precision, recall and f1 (report.Metric*).
	Scores   map[string]float64
	ValLoss  float64       // class-balanced validation cross-entropy at the best epoch
	Epochs   int           // the epoch early stopping kept
	Duration time.Duration // training wall time
	// Head is the candidate trained on the training split only, and
	// ValProbs its probabilities on the validation split (in order): the
	// predictions to choose thresholds on, since the refit winner has seen
	// the validation images.
	Head     Head
	ValProbs [][]float32
	// Curve is its training, epoch by epoch (Fit.Curve).
	Curve []report.CurvePoint
}

// Report describes the candidate for the evaluation report.
func (c Candidate) Report(chosen bool) report.Candidate {
	return report.Candidate{
		Name: c.Config.Name(), Kind: c.Config.Kind, Params: c.Config.Params(),
		Scores: c.Scores, ValLoss: c.ValLoss, Epochs: c.Epochs,
		Seconds: c.Duration.Seconds(), Chosen: chosen,
	}
}

// scoreTie is how close two scores must be to count as equal.
const scoreTie = 1e-9

// Search trains every configuration of grid on train, scores each on val,
// and returns the best on metric (report.MetricTop1, MetricTop5,
// MetricPrecision, MetricRecall or MetricF1; the last three macro) with all
// candidates in grid order. Ties on the metric go to the simpler model
// (fewer weights), then to the lower validation loss, then to grid order.
// progress, when not nil, is called with (done, len(grid)) before the first
// and after every candidate. A cancelled ctx stops the search within one
// optimisation step and returns ctx's error.
func Search(ctx context.Context, train, val Dataset, grid []Config, metric string, progress func(done, total int)) (Candidate, []Candidate, error) {
	if !validMetric(metric) {
		return Candidate{}, nil, fmt.Errorf("head: metric %q, want one of %s", metric, strings.Join(report.SelectionMetrics(), ", "))
	}
	if len(grid) == 0 {
		return Candidate{}, nil, fmt.Errorf("head: empty grid")
	}
	if val.Len() == 0 {
		return Candidate{}, nil, fmt.Errorf("%w: no validation images to select a head on", ErrData)
	}
	if progress != nil {
		progress(0, len(grid))
	}
	all := make([]Candidate, 0, len(grid))
	for i, cfg := range grid {
		start := time.Now()
		fit, err := Train(ctx, train, val, cfg)
		if err != nil {
			return Candidate{}, nil, err
		}
		c := Candidate{Config: cfg, ValLoss: fit.ValLoss, Epochs: fit.Epochs, Head: fit.Head, Curve: fit.Curve}
		c.ValProbs = fit.Head.PredictBatch(val.X)
		c.Scores = evaluate.Scores(val.Y, c.ValProbs, val.Classes)
		c.Duration = time.Since(start)
		all = append(all, c)
		if progress != nil {
			progress(i+1, len(grid))
		}
	}
	best := 0
	for i := range all {
		if better(all[i], all[best], metric, train.Dim(), train.Classes) {
			best = i
		}
	}
	return all[best], all, nil
}

// better reports whether a beats b: a higher metric, then fewer weights,
// then a lower validation loss.
func better(a, b Candidate, metric string, dim, k int) bool {
	if d := a.Scores[metric] - b.Scores[metric]; math.Abs(d) > scoreTie {
		return d > 0
	}
	if ca, cb := a.Config.complexity(dim, k), b.Config.complexity(dim, k); ca != cb {
		return ca < cb
	}
	return a.ValLoss < b.ValLoss-minImprovement
}

func validMetric(m string) bool {
	for _, s := range report.SelectionMetrics() {
		if s == m {
			return true
		}
	}
	return false
}
