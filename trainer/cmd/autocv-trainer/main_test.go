//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/protocol/report"
)

// The trainer runs as a real binary built without the race detector:
// decoding hundreds of photos under -race would take minutes, and the
// binary is what users run.
func trainerBinary(t *testing.T) string {
	t.Helper()
	return testenv.GoBuild(t, "./trainer/cmd/autocv-trainer", nil)
}

// cacheDir is one feature cache shared by every test (and by later runs on
// the same machine): features are keyed by content, so sharing is safe.
func cacheDir() string {
	if d := os.Getenv("AUTOCV_TEST_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "autocv-test-features")
}

type result struct {
	stdout, stderr string
	err            error
}

func train(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	bin := trainerBinary(t)
	cmd := exec.CommandContext(ctx, bin, append([]string{"train"}, args...)...)
	cmd.Env = append(os.Environ(),
		"ONNXRUNTIME_LIB="+testenv.ORTLibrary(t),
		"AUTOCV_BACKBONES="+testenv.Data(t, "backbones"),
		"AUTOCV_CACHE_DIR="+cacheDir(),
		"XDG_CONFIG_HOME="+t.TempDir(), // the default signing key goes here
	)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return result{so.String(), se.String(), err}
}

func readReport(t *testing.T, out string) *report.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Parse(data)
	if err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return rep
}

// hymenoptera: train on its train folder, evaluate on its untouched val
// folder; the calibration bar is 0.94, the test asks 0.93.
func TestTrainHymenoptera(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	r := train(t, context.Background(), "--data", testenv.Data(t, "datasets", "hymenoptera", "train"),
		"--test-data", testenv.Data(t, "datasets", "hymenoptera", "val"), "--out", out, "--type", "general")
	if r.err != nil {
		t.Fatalf("%v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	t.Logf("trained in %s\n%s", time.Since(start).Round(time.Millisecond), r.stdout)
	rep := readReport(t, out)
	if rep.Split.Test != 153 {
		t.Errorf("test split %d, want hymenoptera/val's 153", rep.Split.Test)
	}
	if rep.Metrics.Accuracy < 0.93 {
		t.Errorf("accuracy %.3f on hymenoptera/val, want >= 0.93", rep.Metrics.Accuracy)
	}
	// report self-consistency
	total := 0
	for i, row := range rep.Confusion.Matrix {
		sum := 0
		for _, n := range row {
			sum += n
		}
		if sum != rep.PerLabel[i].Support {
			t.Errorf("confusion row %d sums to %d, per_label support %d", i, sum, rep.PerLabel[i].Support)
		}
		total += sum
	}
	if total != rep.Split.Test {
		t.Errorf("confusion matrix sums to %d, test split %d", total, rep.Split.Test)
	}
	if m := rep.Metrics; m.Kappa < -1 || m.Kappa > 1 || m.AUC < 0 || m.AUC > 1 {
		t.Errorf("kappa %v auc %v out of range", m.Kappa, m.AUC)
	}
	// the two rule-breaking files are skipped and listed
	skipped := map[string]string{}
	for _, s := range rep.Skipped {
		skipped[s.Path] = s.Reason
	}
	if skipped["ants/imageNotFound.gif"] != "unsupported_format" || skipped["ants/662541407_ff8db781e7.jpg"] != "bad_aspect_ratio" || len(skipped) != 2 {
		t.Errorf("skipped %v, want the GIF and the 500x146 JPEG", skipped)
	}
	// distinct photos are not near duplicates: a handful of pairs at most,
	// each below similarity 1
	if n := len(rep.DataChecks.NearDuplicates); n > 5 {
		t.Errorf("%d near-duplicate pairs in hymenoptera; the check is not comparing cosines", n)
	}
	for _, p := range rep.DataChecks.NearDuplicates {
		if p.Similarity >= 0.9999 {
			t.Errorf("near duplicates %v at similarity %v", p.Paths, p.Similarity)
		}
	}
	if len(rep.Thresholds.PerLabel) != 2 || rep.Thresholds.Global <= 0 {
		t.Errorf("thresholds %+v", rep.Thresholds)
	}
	if rep.Verdict.ZH == "" || rep.Verdict.EN == "" || len(rep.Candidates) < 2 {
		t.Errorf("verdict %+v, %d candidates", rep.Verdict, len(rep.Candidates))
	}
	// the package verifies with the key written beside it
	pub, err := modelpkg.ReadPublicKey(filepath.Join(out, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.VerifyFile(filepath.Join(out, "package.tar.gz"), pub)
	if err != nil {
		t.Fatal(err)
	}
	if m := pkg.Manifest; len(m.Labels) != 2 || len(m.Golden) == 0 || m.IO.OutputKind != modelpkg.OutputProbabilities {
		t.Errorf("manifest %+v", m)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 3 {
		t.Errorf("output folder holds %d files, want package.tar.gz, report.json, signing.pub", len(entries))
	}
	if m := rep.Machine; m == nil || m.CPU == "" || m.Arch == "" || m.Provider != "cpu" || !strings.HasPrefix(m.Runtime, "onnxruntime ") {
		t.Errorf("report.machine %+v: want the evaluating CPU, arch, runtime and provider", m)
	}
	// the package serves alike on CPUs without this one's instruction sets
	t.Run("older CPUs", func(t *testing.T) { servesOnOlderCPUs(t, out) })
}

// copyPhotos copies n photos (all when n <= 0) of a shared-data folder.
func copyPhotos(t *testing.T, from, to string, n int) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if n > 0 && i >= n {
			break
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

// flowers5's sunflower folder holds two byte-identical pairs: the report
// must name them.
func TestTrainReportsDuplicates(t *testing.T) {
	data := filepath.Join(t.TempDir(), "flowers")
	copyPhotos(t, testenv.Data(t, "datasets", "flowers5", "sunflower"), filepath.Join(data, "sunflower"), 0)
	copyPhotos(t, testenv.Data(t, "datasets", "flowers5", "daisy"), filepath.Join(data, "daisy"), 40)
	// A photo cut in half passes the scan (its header is fine) and is left
	// out when the features decode it, not fatal.
	whole, err := os.ReadFile(testenv.Data(t, "datasets", "flowers5", "daisy", "10140303196_b88d3d6cec.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "daisy", "cut.jpg"), whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := train(t, context.Background(), "--data", data, "--out", out, "--type", "high-performance")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	rep := readReport(t, out)
	cut := false
	for _, s := range rep.Skipped {
		cut = cut || s.Path == "daisy/cut.jpg" && s.Reason == "corrupt" && strings.Contains(s.Message, "JPEG")
	}
	if !cut {
		t.Errorf("the cut photo is not reported as left out: %+v", rep.Skipped)
	}
	want := map[string]bool{
		"sunflower/14889392928_9742aed45b_m.jpg": true, "sunflower/15066430311_fb57fa92b0_m.jpg": true,
		"sunflower/15069459615_7e0fd61914_n.jpg": true, "sunflower/15072973261_73e2912ef2_n.jpg": true,
	}
	found := 0
	for _, g := range rep.DataChecks.Duplicates {
		for _, p := range g.Paths {
			if want[p] {
				found++
			}
		}
	}
	if found != 4 || len(rep.DataChecks.Duplicates) != 2 {
		t.Errorf("duplicates %+v, want the two sunflower pairs", rep.DataChecks.Duplicates)
	}
}

func TestTrainRefusesBadInput(t *testing.T) {
	ants := testenv.Data(t, "datasets", "hymenoptera", "train", "ants")
	bees := testenv.Data(t, "datasets", "hymenoptera", "train", "bees")

	oneLabel := filepath.Join(t.TempDir(), "one")
	copyPhotos(t, ants, filepath.Join(oneLabel, "ants"), 25)

	fewImages := filepath.Join(t.TempDir(), "few")
	copyPhotos(t, ants, filepath.Join(fewImages, "ants"), 25)
	copyPhotos(t, bees, filepath.Join(fewImages, "wasps"), 3)

	good := filepath.Join(t.TempDir(), "good")
	copyPhotos(t, ants, filepath.Join(good, "ants"), 22)
	copyPhotos(t, bees, filepath.Join(good, "bees"), 22)

	exists := t.TempDir()
	badBackbones := t.TempDir()
	if err := os.WriteFile(filepath.Join(badBackbones, "mobilenetv2-12-int8.onnx"), []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		args  []string
		words []string // the error must say these
	}{
		{"output exists", []string{"--data", good, "--out", exists}, []string{"already exists"}},
		{"one label", []string{"--data", oneLabel, "--out", filepath.Join(t.TempDir(), "o")}, []string{"label"}},
		{"label short of images", []string{"--data", fewImages, "--out", filepath.Join(t.TempDir(), "o")}, []string{"wasps", "3"}},
		{"no such folder", []string{"--data", filepath.Join(t.TempDir(), "nope"), "--out", filepath.Join(t.TempDir(), "o")}, []string{"nope"}},
		{"backbone not a model", []string{"--data", good, "--out", filepath.Join(t.TempDir(), "o"), "--type", "high-performance", "--backbones", badBackbones}, []string{"mobilenetv2-12-int8.onnx"}},
		{"unknown type", []string{"--data", good, "--out", filepath.Join(t.TempDir(), "o"), "--type", "fast"}, []string{"fast"}},
		// the npm onnxruntime build is CPU-only: cuda must fail even when
		// every feature is already cached
		{"cuda without cuda", []string{"--data", good, "--out", filepath.Join(t.TempDir(), "o"), "--type", "high-performance", "--device", "cuda"}, []string{"--device cuda", "CUDA"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := train(t, context.Background(), tc.args...)
			if r.err == nil {
				t.Fatalf("accepted:\n%s", r.stdout)
			}
			for _, w := range tc.words {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error does not mention %q:\n%s", w, r.stderr)
				}
			}
			t.Log(strings.TrimSpace(lastLine(r.stderr)))
			for _, a := range tc.args {
				if strings.HasSuffix(a, "/o") {
					if _, err := os.Stat(a); err == nil {
						t.Errorf("output folder %s was created", a)
					}
				}
			}
		})
	}
}

// Stopping a training (Ctrl-C) leaves nothing behind.
func TestTrainCancelLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	bin := trainerBinary(t)
	cmd := exec.Command(bin, "train", "--data", testenv.Data(t, "datasets", "flowers5"), "--out", out,
		"--cache-dir", t.TempDir()) // a cold cache: the run is still extracting when stopped
	cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+testenv.ORTLibrary(t),
		"AUTOCV_BACKBONES="+testenv.Data(t, "backbones"), "XDG_CONFIG_HOME="+t.TempDir())
	var se testenv.LockedBuffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(se.String(), "features") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	stopped := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if err == nil {
		t.Fatal("training finished instead of stopping")
	}
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("took %s to stop", took)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
	if !strings.Contains(se.String(), "stopped") {
		t.Errorf("no word of stopping:\n%s", lastLine(se.String()))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
