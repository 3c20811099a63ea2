package trainer

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer/evaluate"
	"github.com/autocv/autocv/trainer/head"
)

// mislabelFolds is how many folds the out-of-fold predictions for the
// suspected-mislabel check use.
const mislabelFolds = 3

// evaluate scores the final head on the untouched test split and assembles
// the report; it returns the test probabilities the export must reproduce.
func (r *run) evaluate(ctx context.Context, best head.Candidate, cands []head.Candidate, final head.Head) (*report.Report, [][]float32, error) {
	labels := r.in.Labels
	ts, vs, tr := r.split[jobs.SplitTest], r.split[jobs.SplitValidation], r.split[jobs.SplitTrain]
	probs := final.PredictBatch(ts.eval)
	ids := make([]string, len(ts.items))
	for i, it := range ts.items {
		ids[i] = it.ID
	}
	res, err := evaluate.Evaluate(ts.truth, probs, labels, ids)
	if err != nil {
		return nil, nil, err
	}
	rep := &report.Report{
		Schema: report.SchemaVersion, ModelID: r.in.ModelID, Version: r.in.Version,
		AppType: r.in.AppType, Metric: r.in.Metric, Backbone: strings.Join(r.recipe.Backbones, "+"),
		CreatedAt: time.Now().UTC().Format(time.RFC3339),
		Split:     report.Split{Train: len(tr.items), Validation: len(vs.items), Test: len(ts.items), Seed: r.in.Seed},
		Skipped:   r.in.Skipped,
		Machine:   thisMachine(r.feat.provider),
	}
	res.Fill(rep)
	for _, c := range cands {
		rep.Candidates = append(rep.Candidates, c.Report(c.Config == best.Config))
	}
	rep.Curve = best.Curve

	checks := r.in.Checks
	var files []evaluate.File
	var evalFeats [][]float32
	counts := make([]int, len(labels))
	sets := make([]report.LabelSet, len(labels))
	for i, l := range labels {
		sets[i] = report.LabelSet{Label: l, Sources: map[string]int{}}
	}
	for _, s := range []*splitData{tr, vs, ts} {
		for i, it := range s.items {
			files = append(files, evaluate.File{ID: it.ID, Path: it.ID, Label: it.Label, SHA256: it.SHA256, Split: it.Split})
			evalFeats = append(evalFeats, s.eval[i])
			c := s.truth[i]
			counts[c]++
			set := &sets[c]
			set.Images++
			switch it.Split {
			case jobs.SplitTrain:
				set.Train++
			case jobs.SplitValidation:
				set.Validation++
			default:
				set.Test++
			}
			if it.Source != "" {
				set.Sources[it.Source]++
			}
		}
	}
	rep.TrainingSet = sets
	checks.Imbalance = evaluate.Imbalance(labels, counts)
	if checks.NearDuplicates, err = evaluate.NearDuplicates(files, evalFeats, evaluate.DefaultNearDuplicate, 50); err != nil {
		return nil, nil, err
	}

	// suspected mislabels: out-of-fold predictions over train + validation
	// (plain views), so no image is judged by a model that learnt it
	seen := head.Dataset{Classes: len(labels), X: append(append([][]float32(nil), tr.eval...), vs.eval...),
		Y: append(append([]int(nil), tr.truth...), vs.truth...)}
	oof, err := head.OutOfFold(ctx, seen, best.Config, best.Epochs, mislabelFolds)
	if err != nil {
		return nil, nil, err
	}
	// thresholds from the same out-of-fold predictions: models trained like
	// the shipped one, on data that excluded the image judged
	rep.Thresholds = evaluate.Thresholds(seen.Y, oof, labels)
	seenFiles := files[:len(tr.items)+len(vs.items)]
	if checks.SuspectedMislabels, err = evaluate.SuspectedMislabels(seen.Y, oof, labels, seenFiles, evaluate.DefaultMislabelRule); err != nil {
		return nil, nil, err
	}
	rep.DataChecks = checks
	rep.Verdict = evaluate.Verdict(res, &checks)
	r.prog.report("evaluate", 1, 1)
	return rep, probs, nil
}

func writeReport(path string, rep *report.Report) error {
	data, err := report.Encode(rep)
	if err != nil {
		return fmt.Errorf("evaluation report: %w", err)
	}
	return os.WriteFile(path, data, 0o644)
}
