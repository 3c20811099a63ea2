package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer"
)

// Targets from the trainer issue ("Done when").
var accuracyTargets = map[string]map[string]float64{
	"hymenoptera": {jobs.RecipeGeneral: 0.94, jobs.RecipeHighAccuracy: 0.95},
	"flowers5":    {jobs.RecipeGeneral: 0.93},
}

const endToEndTarget = 45 * time.Second // 1000 photos, general, 2 cores

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
	for _, r := range rows {
		m := r.cold.Metrics
		target, meets := "-", "-"
		if t, ok := accuracyTargets[r.set][r.recipe]; ok {
			target, meets = fmt.Sprintf("≥ %.2f", t), yesNo(m.Accuracy >= t)
		}
		wrong := r.cold.Split.Test - int(m.Accuracy*float64(r.cold.Split.Test)+0.5)
		fmt.Printf("%-12s %-16s %11s %9.3f %8s %7s %6.3f %5d %4s\n", r.set, r.recipe, r.sizes,
			m.Accuracy, target, meets, m.F1, wrong, yesNo(sameSummary(r.warm.Metrics, m)))
	}
	fmt.Println("  wrong = misclassified test photos; same = the warm-cache retraining gave the same metrics")
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
	}
	return e, nil
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
			t["evaluate"], t["export"], r.wall.Seconds(), fmt.Sprintf("≤ %.0f", endToEndTarget.Seconds()), yesNo(r.wall <= endToEndTarget))
	}
	fmt.Println("  wall = scan + the whole Train() call (features … export, report, package, signing)")
}
