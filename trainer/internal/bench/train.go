package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/features"
)

// Targets from the trainer issue ("Done when").
var accuracyTargets = map[string]map[string]float64{
	"hymenoptera": {jobs.RecipeGeneral: 0.94, jobs.RecipeHighAccuracy: 0.95},
	"flowers5":    {jobs.RecipeGeneral: 0.93},
}

// highAccuracyGain is how much high-accuracy must beat general by on the
// same dataset, in the same run, to earn its name (and its cost).
const highAccuracyGain = 0.01

// ~1000 photos, general, 2 quiet cores: cold (empty feature cache), warm.
var endToEndTargets = [2]time.Duration{10 * time.Second, 3 * time.Second}

var recipeNames = []string{jobs.RecipeGeneral, jobs.RecipeHighAccuracy, jobs.RecipeHighPerformance}

// recipeRow is one dataset × application type: a cold training (empty
// feature cache) and the same training again on the warm cache.
type recipeRow struct {
	set, recipe string
	sizes       string
	cold, warm  *report.Report
	coldWall    time.Duration // the whole Train call: report, package and rename included
	warmWall    time.Duration
}

// benchRecipes trains every dataset with every application type, each
// (dataset, type) on its own fresh feature cache, then once more on it.
func benchRecipes(c config, sets []benchSet, key ed25519.PrivateKey) ([]recipeRow, error) {
	var rows []recipeRow
	for _, s := range sets {
		for _, name := range recipeNames {
			if !slices.Contains(strings.Split(c.types, ","), name) {
				continue
			}
			cache := filepath.Join(c.tmp, "cache-"+s.name+"-"+name)
			in := s.in
			in.ModelID, in.AppType = s.name+"-"+name, name
			row := recipeRow{set: s.name, recipe: name, sizes: splitSizes(in)}
			var err error
			if row.cold, row.coldWall, err = train(c, in, cache, key, s.name+" "+name+" cold"); err != nil {
				return nil, err
			}
			if row.warm, row.warmWall, err = train(c, in, cache, key, s.name+" "+name+" warm"); err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// train runs trainer.Train into a new folder under the temp folder and
// removes what it wrote (the cache stays).
func train(c config, in trainer.Input, cache string, key ed25519.PrivateKey, what string) (*report.Report, time.Duration, error) {
	fmt.Fprintf(os.Stderr, "training %s …\n", what)
	out, err := os.MkdirTemp(c.tmp, "out-")
	if err != nil {
		return nil, 0, err
	}
	if err := os.Remove(out); err != nil { // Train wants a folder that does not exist yet
		return nil, 0, err
	}
	start := time.Now()
	res, err := trainer.Train(context.Background(), in, out, trainer.Options{
		BackbonesDir: c.backbones, CacheDir: cache, Device: "cpu", Key: key, LeaveOutUndecodable: true})
	wall := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	return res.Report, wall, os.RemoveAll(out)
}

func printRecipes(rows []recipeRow) {
	fmt.Println("Training: test split accuracy per dataset × application type (seed fixed)")
	fmt.Println("  hymenoptera: train folder → train/validation, test = its val folder")
	fmt.Println("  flowers5: every 5th photo per label (sorted names) = test, the rest → train/validation")
	fmt.Printf("%-12s %-16s %11s %9s %8s %7s %6s %5s %4s\n",
		"dataset", "type", "tr/val/test", "accuracy", "target", "meets", "F1", "wrong", "same")
	fmt.Println(strings.Repeat("-", 86))
	general := map[string]float64{}
	for _, r := range rows {
		if r.recipe == jobs.RecipeGeneral {
			general[r.set] = r.cold.Metrics.Accuracy
		}
	}
	for _, r := range rows {
		m := r.cold.Metrics
		target, meets := "-", "-"
		t, ok := accuracyTargets[r.set][r.recipe]
		if g, known := general[r.set]; known && r.recipe == jobs.RecipeHighAccuracy {
			t, ok = max(t, g+highAccuracyGain), true
		}
		if ok {
			target, meets = fmt.Sprintf("≥ %.3f", t), yesNo(m.Accuracy >= t-1e-9)
		}
		wrong := r.cold.Split.Test - int(m.Accuracy*float64(r.cold.Split.Test)+0.5)
		fmt.Printf("%-12s %-16s %11s %9.3f %8s %7s %6.3f %5d %4s\n", r.set, r.recipe, r.sizes,
			m.Accuracy, target, meets, m.F1, wrong, yesNo(sameSummary(r.warm.Metrics, m)))
	}
	fmt.Println("  wrong = misclassified test photos; same = the warm-cache retraining gave the same metrics")
	fmt.Printf("  high-accuracy's target: general's accuracy on the same data + %.2f\n", highAccuracyGain)
	fmt.Println()

	fmt.Println("Training: wall seconds per stage (report timings), cold = empty feature cache, warm = same training again")
	fmt.Printf("%-12s %-16s %8s %7s %8s %7s %7s %7s | %8s %7s %7s %7s\n", "dataset", "type",
		"features", "train", "evaluate", "export", "total", "Train()", "warm:feat", "total", "Train()", "cold/warm")
	fmt.Println(strings.Repeat("-", 118))
	for _, r := range rows {
		ct, wt := r.cold.Timings, r.warm.Timings
		fmt.Printf("%-12s %-16s %8.2f %7.2f %8.2f %7.2f %7.2f %7.2f | %8.2f %7.2f %7.2f %8.1fx\n", r.set, r.recipe,
			ct["features"], ct["train"], ct["evaluate"], ct["export"], ct["total"], r.coldWall.Seconds(),
			wt["features"], wt["total"], r.warmWall.Seconds(), r.coldWall.Seconds()/r.warmWall.Seconds())
	}
	fmt.Println("  total = the report's stage sum; Train() = the whole call (report, package, signing, rename included)")
	fmt.Println()
	printReadmeRows(rows)
}

// printReadmeRows prints the README's "Application types" table rows from
// this run, so the README quotes the bench instead of drifting from it.
func printReadmeRows(rows []recipeRow) {
	acc := map[string]map[string]float64{}
	hym := map[string][2]float64{}
	for _, r := range rows {
		if acc[r.recipe] == nil {
			acc[r.recipe] = map[string]float64{}
		}
		acc[r.recipe][r.set] = r.cold.Metrics.Accuracy
		if r.set == "hymenoptera" {
			hym[r.recipe] = [2]float64{r.coldWall.Seconds(), r.warmWall.Seconds()}
		}
	}
	fmt.Println("README table (Application types), from this run:")
	fmt.Println("| type | features | hymenoptera val | flowers5 (every 5th held out) | hymenoptera cold / warm | device cost per photo |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, name := range recipeNames {
		a, ok := acc[name]
		if !ok {
			continue
		}
		cell := func(set string) string {
			if v, ok := a[set]; ok {
				return fmt.Sprintf("%.3f", v)
			}
			return "-"
		}
		times := "-"
		if h, ok := hym[name]; ok {
			times = fmt.Sprintf("%.1f s / %.1f s", h[0], h[1])
		}
		what, cost := describe(name)
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", name, what, cell("hymenoptera"), cell("flowers5"), times, cost)
	}
	fmt.Println()
}

// sameSummary compares the headline metrics (TopK is a slice).
func sameSummary(a, b report.Summary) bool {
	if a.Accuracy != b.Accuracy || a.F1 != b.F1 || a.Precision != b.Precision || a.Recall != b.Recall ||
		a.AUC != b.AUC || a.Kappa != b.Kappa || len(a.TopK) != len(b.TopK) {
		return false
	}
	for i := range a.TopK {
		if a.TopK[i] != b.TopK[i] {
			return false
		}
	}
	return true
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// endToEnd is the ~1000-photo run, folder to package.
type endToEnd struct {
	images, labels int
	sizes          string
	skipped        int
	accuracy, f1   float64
	runs           [2]e2eRun // cold, warm
	vips           time.Duration
	vipsErr        error
}

type e2eRun struct {
	scan, wall time.Duration // wall = scan + Train()
	timings    map[string]float64
}

// benchEndToEnd scans flowers5 + hymenoptera as one dataset and trains the
// general type into a signed package, on an empty cache and then again;
// each run's time includes its own scan.
func benchEndToEnd(c config, key ed25519.PrivateKey) (endToEnd, error) {
	var e endToEnd
	cache := filepath.Join(c.tmp, "cache-1000")
	for i, what := range []string{"cold", "warm"} {
		start := time.Now()
		in, scanTime, err := thousand(c)
		if err != nil {
			return e, err
		}
		in.ModelID, in.AppType = "flowers5-hymenoptera", jobs.RecipeGeneral
		rep, _, err := train(c, in, cache, key, fmt.Sprintf("%d photos general %s", len(in.Items), what))
		if err != nil {
			return e, err
		}
		e.runs[i] = e2eRun{scan: scanTime, wall: time.Since(start), timings: rep.Timings}
		e.images, e.labels, e.sizes, e.skipped = len(in.Items), len(in.Labels), splitSizes(in), len(in.Skipped)
		e.accuracy, e.f1 = rep.Metrics.Accuracy, rep.Metrics.F1
		if i == 0 {
			e.vips, e.vipsErr = vipsPass(c, in)
		}
	}
	return e, nil
}

// vipsPass times libvips' vipsthumbnail (shrink-on-load JPEG decoding)
// making a 256-pixel thumbnail of every photo, on two processes at once
// (both cores): the established tool's floor for decode-and-resize.
func vipsPass(c config, in trainer.Input) (time.Duration, error) {
	tool, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		return 0, fmt.Errorf("vipsthumbnail is not installed (apt-get install libvips-tools)")
	}
	out, err := os.MkdirTemp(c.tmp, "vips-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(out)
	var halves [2][]string
	for i, it := range in.Items {
		halves[i%2] = append(halves[i%2], it.Path)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var errs [2]error
	for k, files := range halves {
		wg.Go(func() {
			args := append([]string{"--size", "256x256", "-o", filepath.Join(out, fmt.Sprintf("%d-%%s.jpg", k))}, files...)
			if b, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
				errs[k] = fmt.Errorf("vipsthumbnail: %v: %s", err, b)
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs[:]...)
}

func printEndToEnd(e endToEnd) {
	fmt.Printf("End to end: %d photos, %d labels (flowers5 + hymenoptera train+val, %d files left out), general, folder → signed package\n",
		e.images, e.labels, e.skipped)
	fmt.Printf("  split %s, test accuracy %.3f, macro F1 %.3f\n", e.sizes, e.accuracy, e.f1)
	fmt.Printf("%-6s %6s %8s %7s %8s %7s %8s %8s %7s\n", "cache", "scan", "features", "train", "evaluate", "export", "wall", "target", "meets")
	fmt.Println(strings.Repeat("-", 72))
	for i, what := range []string{"cold", "warm"} {
		r := e.runs[i]
		t := r.timings
		fmt.Printf("%-6s %6.2f %8.2f %7.2f %8.2f %7.2f %8.2f %8s %7s\n", what, r.scan.Seconds(), t["features"], t["train"],
			t["evaluate"], t["export"], r.wall.Seconds(), fmt.Sprintf("≤ %.0f", endToEndTargets[i].Seconds()), yesNo(r.wall <= endToEndTargets[i]))
	}
	fmt.Println("  wall = scan + the whole Train() call (features … export, report, package, signing)")
	if e.vipsErr != nil {
		fmt.Printf("  reference: %v\n", e.vipsErr)
		return
	}
	ratio := e.runs[0].wall.Seconds() / e.vips.Seconds()
	fmt.Printf("  reference: vipsthumbnail (libvips shrink-on-load, 2 processes) makes 256 px thumbnails of the same photos in %.2f s;\n", e.vips.Seconds())
	fmt.Printf("  cold training / vipsthumbnail = %.2fx (target ≤ 2x: %s)\n", ratio, yesNo(ratio <= 2))
}

// describe says what a recipe computes and what a device pays per photo,
// from the recipe itself.
func describe(name string) (what, cost string) {
	r, err := trainer.RecipeFor(name)
	if err != nil {
		return err.Error(), "-"
	}
	names := map[string]string{backbone.MobileNetV2: "MobileNetV2", backbone.ShuffleNet: "ShuffleNetV2"}
	var bbs []string
	for _, b := range r.Backbones {
		bbs = append(bbs, names[b])
	}
	views := func(vs []features.View) string {
		var s []string
		for _, v := range vs {
			s = append(s, string(v))
		}
		return strings.Join(s, ", ")
	}
	what = strings.Join(bbs, " + ") + " pooled features (float), each L2-normalised; training views: " + views(r.TrainViews)
	runs := "once"
	if len(r.EvalViews) > 1 {
		what += "; judged by the mean of " + views(r.EvalViews) + " (in the exported graph)"
		runs = fmt.Sprintf("%d times (one per judged view)", len(r.EvalViews))
	}
	cost = fmt.Sprintf("%s, %s", strings.Join(bbs, " + "), runs)
	return what, cost
}
