package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/trainer"
	"github.com/autocv/autocv/trainer/worker"
)

// perLabel images of each hymenoptera label, split 16 / 4 / 4 by the
// control plane, as a frozen job would be.
const perLabel = 24

func splitOf(i int) string {
	switch {
	case i < 16:
		return jobs.SplitTrain
	case i < 20:
		return jobs.SplitValidation
	}
	return jobs.SplitTest
}

// hymenopteraJob returns a job over the first photos (sorted names) of each
// hymenoptera training label and the bytes the control plane serves.
func hymenopteraJob(t *testing.T) (jobs.Job, map[string][]byte) {
	t.Helper()
	root := testenv.Data(t, "datasets", "hymenoptera", "train")
	job := jobs.Job{ID: "job-1", ModelID: "insects", Version: 1, AppType: jobs.OfflineHighPerformance,
		Metric: "f1", Seed: 7, Labels: []string{"ants", "bees"}}
	images := map[string][]byte{}
	for _, label := range job.Labels {
		entries, err := os.ReadDir(filepath.Join(root, label))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			// The data set's two rule breakers (README) never reach a job.
			if strings.HasSuffix(e.Name(), ".jpg") && e.Name() != "662541407_ff8db781e7.jpg" {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		if len(names) < perLabel {
			t.Fatalf("%s: %d photos, want %d", label, len(names), perLabel)
		}
		for i, name := range names[:perLabel] {
			data, err := os.ReadFile(filepath.Join(root, label, name))
			if err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("%s-%02d", label, i)
			images[id] = data
			job.Images = append(job.Images, jobs.Image{ID: id, SHA256: sha256Hex(data), Label: label,
				Split: splitOf(i), Source: "hymenoptera/train/" + label + "/" + name})
		}
	}
	if err := job.Validate(); err != nil {
		t.Fatal(err)
	}
	return job, images
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// trainerOptions loads onnxruntime and returns options sharing one feature
// cache across this package's tests (and runs): $AUTOCV_TEST_CACHE, or
// autocv-test-features in the system temp folder.
func trainerOptions(t *testing.T) trainer.Options {
	t.Helper()
	if err := engine.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	cache := os.Getenv("AUTOCV_TEST_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "autocv-test-features")
	}
	return trainer.Options{BackbonesDir: testenv.Data(t, "backbones"), CacheDir: cache, Device: "cpu"}
}

// testConfig is a worker config for cp with a short poll and an empty
// scratch folder of its own; logs go to the test log and to the returned
// observer.
func testConfig(t *testing.T, cp *controlPlane) (worker.Config, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	// every worker passes its preflight (backbones, onnxruntime) first
	return worker.Config{Server: cp.URL(), Token: cp.token, WorkerID: "test-worker",
		Poll: 50 * time.Millisecond, WorkDir: t.TempDir(), Logger: log, Trainer: trainerOptions(t)}, logs
}

// startWorker runs worker.Run until the returned stop is called (or the
// test ends); stop fails the test if Run does not return within 5 s.
func startWorker(t *testing.T, cfg worker.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- worker.Run(ctx, cfg) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5 s of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}

// assertEmpty fails when the worker left anything in its scratch folder.
func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("work dir holds %s after the job", e.Name())
	}
}
