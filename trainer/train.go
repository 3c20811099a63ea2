package trainer

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/imagerules"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer/features"
	"github.com/autocv/autocv/trainer/head"
)

// Stages, in order, with the share of the progress bar each takes.
var stages = []struct {
	name  string
	share float64
}{{"features", 60}, {"train", 20}, {"evaluate", 5}, {"export", 15}}

// progress turns per-stage fractions into overall percent and an ETA.
type progress struct {
	f     func(jobs.Progress)
	start time.Time
}

func (p *progress) report(stage string, done, total int) {
	if p.f == nil {
		return
	}
	var before, share float64
	for _, s := range stages {
		if s.name == stage {
			share = s.share
			break
		}
		before += s.share
	}
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	pct := before + share*frac
	eta := 0
	if pct > 1 {
		eta = int(time.Since(p.start).Seconds() * (100 - pct) / pct)
	}
	p.f(jobs.Progress{Stage: stage, Percent: pct, ETASeconds: eta})
}

// Train trains in.Items into a package and report under out, which must not
// exist: everything is written to a temporary folder beside it and renamed
// into place only when the package passed its checks, so a failed or
// cancelled run leaves nothing behind.
func Train(ctx context.Context, in Input, out string, o Options) (*Result, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("output folder %s already exists; choose a new one", out)
	}
	recipe, err := RecipeFor(in.AppType)
	if err != nil {
		return nil, err
	}
	if in.Metric == "" {
		in.Metric = report.MetricF1
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	r := &run{in: in, o: o, recipe: recipe, dir: tmp, prog: &progress{f: o.Progress, start: time.Now()},
		timings: map[string]float64{}, log: o.Logger}
	rep, err := r.train(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("training stopped: %w", ctx.Err())
		}
		return nil, err
	}
	if o.Key != nil {
		if err := modelpkg.WritePublicKey(filepath.Join(tmp, "signing.pub"), o.Key.Public().(ed25519.PublicKey)); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp made it private
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return &Result{PackagePath: filepath.Join(out, "package.tar.gz"), ReportPath: filepath.Join(out, "report.json"), Report: rep}, nil
}

// validate checks the input's shape: labels, splits, minimum counts.
func (in *Input) validate() error {
	if len(in.Labels) < 2 {
		return fmt.Errorf("%d label(s) %q: a classifier needs at least 2", len(in.Labels), in.Labels)
	}
	index := map[string]int{}
	for i, l := range in.Labels {
		if _, dup := index[l]; dup || l == "" {
			return fmt.Errorf("label %q is empty or listed twice", l)
		}
		index[l] = i
	}
	if !slices.Contains(report.SelectionMetrics(), in.Metric) {
		return fmt.Errorf("unknown metric %q (want one of %s)", in.Metric, strings.Join(report.SelectionMetrics(), ", "))
	}
	// the same photo in two splits would leak test images into training;
	// under two labels it cannot be right for both
	seen := map[string]Item{}
	for _, it := range in.Items {
		if it.SHA256 == "" {
			continue
		}
		if prev, ok := seen[it.SHA256]; ok && (prev.Split != it.Split || prev.Label != it.Label) {
			return fmt.Errorf("images %s (%s, %s) and %s (%s, %s) are the same photo in two splits or under two labels",
				prev.ID, prev.Label, prev.Split, it.ID, it.Label, it.Split)
		}
		seen[it.SHA256] = it
	}
	counts := map[string]map[string]int{}
	for _, it := range in.Items {
		if _, ok := index[it.Label]; !ok {
			return fmt.Errorf("image %s: label %q is not one of %q", it.ID, it.Label, in.Labels)
		}
		if counts[it.Label] == nil {
			counts[it.Label] = map[string]int{}
		}
		counts[it.Label][it.Split]++
	}
	var short []string
	for _, l := range in.Labels {
		c := counts[l]
		if c[jobs.SplitTrain] == 0 || c[jobs.SplitValidation] == 0 || c[jobs.SplitTest] == 0 {
			short = append(short, fmt.Sprintf("%s (train %d, validation %d, test %d)", l, c[jobs.SplitTrain], c[jobs.SplitValidation], c[jobs.SplitTest]))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("every label needs images in the train, validation and test splits; short: %s", strings.Join(short, "; "))
	}
	return nil
}

// run is one training run's state.
type run struct {
	in      Input
	o       Options
	recipe  Recipe
	dir     string
	prog    *progress
	timings map[string]float64
	log     *zap.Logger

	feat *featurizer
	// per split: items, truth and the eval-view feature of each image
	split map[string]*splitData

	// export's output, packaged last
	modelPath string
	manifest  modelpkg.Manifest
	golden    map[string][]byte
}

type splitData struct {
	items []Item
	truth []int
	eval  [][]float32   // the judged feature: the plain view, or the mean of the recipe's EvalViews
	views [][][]float32 // train split: the recipe's TrainViews
}

func (r *run) stage(name string, start time.Time) {
	r.timings[name] = time.Since(start).Seconds()
	r.log.Info("stage done", zap.String("stage", name), zap.Duration("took", time.Since(start)))
}

func (r *run) train(ctx context.Context) (*report.Report, error) {
	total := time.Now()
	t := time.Now()
	if err := r.features(ctx); err != nil {
		return nil, err
	}
	r.stage("features", t)

	t = time.Now()
	best, cands, final, err := r.fitHead(ctx)
	if err != nil {
		return nil, err
	}
	r.stage("train", t)

	t = time.Now()
	rep, testProbs, err := r.evaluate(ctx, best, cands, final)
	if err != nil {
		return nil, err
	}
	r.stage("evaluate", t)

	t = time.Now()
	if err := r.export(ctx, final, rep, testProbs); err != nil {
		return nil, err
	}
	r.stage("export", t)
	r.timings["total"] = time.Since(total).Seconds()
	rep.Timings = r.timings
	if err := writeReport(filepath.Join(r.dir, "report.json"), rep); err != nil {
		return nil, err
	}
	if err := r.pack(); err != nil {
		return nil, err
	}
	r.prog.report("export", 1, 1)
	return rep, nil
}

// features extracts every split: training photos in the recipe's views,
// validation and test photos in the plain view only.
func (r *run) features(ctx context.Context) error {
	f, err := newFeaturizer(r.recipe, r.o)
	if err != nil {
		return err
	}
	r.feat = f
	index := map[string]int{}
	for i, l := range r.in.Labels {
		index[l] = i
	}
	all := r.in.Items // leaveOut shortens r.in.Items; feats follows this
	var items []features.Item
	evalViews := r.recipe.evalViews()
	trainViews := union(r.recipe.TrainViews, evalViews)
	for _, it := range all {
		views := evalViews
		if it.Split == jobs.SplitTrain {
			views = trainViews
		}
		items = append(items, features.Item{ID: it.ID, Path: it.Path, SHA256: it.SHA256, Views: views})
	}
	feats, st, err := f.extract(ctx, items, func(done, total int) { r.prog.report("features", done, total) })
	if err != nil {
		return err
	}
	// A photo that does not decode is left out like a scan's rule breaker
	// (the scan reads headers only, so each photo is decoded once, here).
	if err := r.leaveOut(st.Undecodable); err != nil {
		return err
	}
	r.split = map[string]*splitData{jobs.SplitTrain: {}, jobs.SplitValidation: {}, jobs.SplitTest: {}}
	for i, it := range all {
		if feats[i] == nil {
			continue
		}
		s := r.split[it.Split]
		s.items = append(s.items, it)
		s.truth = append(s.truth, index[it.Label])
		if it.Split == jobs.SplitTrain {
			s.views = append(s.views, feats[i][:len(r.recipe.TrainViews)])
		}
		s.eval = append(s.eval, mean(feats[i], items[i].Views, evalViews))
	}
	r.log.Info("features", zap.Int("images", len(items)), zap.Int("cached_views", st.Hits),
		zap.Int("computed_views", st.Computed), zap.Duration("decode", st.Decode), zap.Duration("model", st.Model))
	r.timings["features_decode_cpu"] = st.Decode.Seconds()
	r.timings["features_model"] = st.Model.Seconds()
	return nil
}

// union is a's views followed by those of b not in a.
func union(a, b []features.View) []features.View {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// mean averages the features of the wanted views (of have, the views
// feats holds); one view is returned as it is.
func mean(feats [][]float32, have, want []features.View) []float32 {
	if len(want) == 1 {
		return feats[slices.Index(have, want[0])]
	}
	out := make([]float32, len(feats[0]))
	for _, v := range want {
		for d, x := range feats[slices.Index(have, v)] {
			out[d] += x
		}
	}
	for d := range out {
		out[d] /= float32(len(want))
	}
	return out
}

// leaveOut moves the photos that failed to decode from the input to its
// skipped list, and checks every label still has photos in every split.
func (r *run) leaveOut(bad []features.Undecodable) error {
	if len(bad) == 0 {
		return nil
	}
	gone := make(map[int]bool, len(bad))
	for _, u := range bad {
		it := r.in.Items[u.Item]
		gone[u.Item] = true
		r.in.Skipped = append(r.in.Skipped, report.Skipped{Path: it.ID, Label: it.Label, Reason: string(imagerules.Corrupt), Message: u.Reason})
		r.log.Warn("photo left out: it does not decode", zap.String("image", it.ID), zap.String("reason", u.Reason))
	}
	kept := make([]Item, 0, len(r.in.Items)-len(gone))
	for i, it := range r.in.Items {
		if !gone[i] {
			kept = append(kept, it)
		}
	}
	r.in.Items = kept
	if err := r.in.validate(); err != nil {
		return fmt.Errorf("after leaving out %d photo(s) that do not decode: %w", len(gone), err)
	}
	return nil
}

// fitHead searches the recipe's grid on train → validation, then refits the
// winner on train + validation for the epochs early stopping chose.
func (r *run) fitHead(ctx context.Context) (head.Candidate, []head.Candidate, head.Head, error) {
	classes := len(r.in.Labels)
	train := head.Dataset{Classes: classes}
	tr := r.split[jobs.SplitTrain]
	for i, views := range tr.views {
		for _, x := range views {
			train.X = append(train.X, x)
			train.Y = append(train.Y, tr.truth[i])
		}
	}
	vs := r.split[jobs.SplitValidation]
	val := head.Dataset{X: vs.eval, Y: vs.truth, Classes: classes}
	grid := head.Grid(r.recipe.Name, r.in.Seed)
	best, all, err := head.Search(ctx, train, val, grid, r.in.Metric, func(done, total int) { r.prog.report("train", done, total+1) })
	if err != nil {
		return best, nil, head.Head{}, err
	}
	both, err := head.Concat(train, val)
	if err != nil {
		return best, nil, head.Head{}, err
	}
	final, err := head.Refit(ctx, both, best.Config, best.Epochs)
	if err != nil {
		return best, nil, head.Head{}, err
	}
	r.prog.report("train", 1, 1)
	return best, all, final, nil
}
