//go:build linux

package infer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/protocol/inference"
)

// The photos and classes of ../shared/data/backbones/README.md: both demo
// backbones put these first with high confidence, except the bee, which
// MobileNetV2 ranks lower (still in its top 5).
var photos = []struct {
	path, label string
	top1        bool
}{
	{"datasets/hymenoptera/val/ants/1124525276_816a07c17f.jpg", "ant", true},
	{"datasets/hymenoptera/val/bees/10870992_eebeeb3a12.jpg", "bee", false},
	{"datasets/flowers5/daisy/10140303196_b88d3d6cec.jpg", "daisy", true},
}

func readPhotos(t *testing.T) [][]byte {
	var out [][]byte
	for _, ph := range photos {
		out = append(out, photo(t, ph.path))
	}
	return out
}

// checkPhotos asserts the answers for readPhotos: topK labels, sorted, the
// right class first (or within the top k).
func checkPhotos(t *testing.T, preds []infer.Prediction, topK int) {
	t.Helper()
	if len(preds) != len(photos) {
		t.Fatalf("%d predictions for %d photos", len(preds), len(photos))
	}
	for i, ph := range photos {
		pr := preds[i]
		if pr.Err != nil || len(pr.Labels) != topK {
			t.Fatalf("%s: %d labels, err %v; want %d labels", ph.path, len(pr.Labels), pr.Err, topK)
		}
		for j := 1; j < len(pr.Labels); j++ {
			if pr.Labels[j].Confidence > pr.Labels[j-1].Confidence {
				t.Fatalf("%s: labels not sorted by confidence: %+v", ph.path, pr.Labels)
			}
		}
		found := false
		for _, l := range pr.Labels {
			found = found || l.Label == ph.label
		}
		if ph.top1 && (pr.Labels[0].Label != ph.label || pr.Labels[0].Confidence < 0.9) {
			t.Errorf("%s: top-1 %s %.3f, want %s >= 0.9", ph.path, pr.Labels[0].Label, pr.Labels[0].Confidence, ph.label)
		} else if !found {
			t.Errorf("%s: %s not in top %d: %+v", ph.path, ph.label, topK, pr.Labels)
		}
	}
}

func TestStartStatePredict(t *testing.T) {
	f := setup(t)
	p := f.newPool(t, infer.Config{})
	k := f.mobilenet

	if st, err := p.State(k.key); st != "" || err != nil {
		t.Fatalf("state before start: %q %v", st, err)
	}
	if err := p.Start(k.key, k.path, infer.LoadOptions{Unloadable: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.State(k.key); st != infer.StateStarting && st != infer.StateReady {
		t.Fatalf("state after Start: %q", st)
	}
	began := time.Now()
	waitFor(t, 30*time.Second, "model never became ready", func() bool {
		st, err := p.State(k.key)
		if st == infer.StateFailed {
			t.Fatal(err)
		}
		return st == infer.StateReady
	})
	t.Logf("load took about %s", time.Since(began).Round(time.Millisecond))

	info, ok := p.Info(k.key)
	if !ok || info.Pid == 0 || !alive(info.Pid) || len(info.Model.Labels) != 1000 || info.Model.ExecutionProvider != "cpu" {
		t.Fatalf("info %+v (ok %v)", info, ok)
	}

	preds, took, err := p.Predict(context.Background(), k.key, readPhotos(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	checkPhotos(t, preds, 5)
	if took <= 0 {
		t.Fatalf("latency %s", took)
	}
	t.Logf("3 photos in %s; ant: %+v", took, preds[0].Labels[0])

	// top_k 0 is the default 5
	preds, _, err = p.Predict(context.Background(), k.key, readPhotos(t)[:1], 0)
	if err != nil || len(preds[0].Labels) != inference.DefaultTopK {
		t.Fatalf("top_k 0: %+v %v", preds, err)
	}
}

func TestSameKeySharesOneProcess(t *testing.T) {
	f := setup(t)
	p := f.newPool(t, infer.Config{})
	k := f.mobilenet

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Load(context.Background(), k.key, k.path, infer.LoadOptions{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	info, _ := p.Info(k.key)
	if pids := f.pluginPids(t); len(pids) != 1 || pids[0] != info.Pid {
		t.Fatalf("plugin processes %v, want just %d", pids, info.Pid)
	}
	// loading a ready key again is immediate and keeps the process
	if err := p.Load(context.Background(), k.key, k.path, infer.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if again, _ := p.Info(k.key); again.Pid != info.Pid {
		t.Fatalf("second load changed pid %d -> %d", info.Pid, again.Pid)
	}
}

func TestPredictErrors(t *testing.T) {
	f := setup(t)
	p := f.newPool(t, infer.Config{})
	k := f.mobilenet
	f.load(t, p, k, infer.LoadOptions{})
	ctx := context.Background()
	ant := photo(t, photos[0].path)

	// a batch: good photo, GIF bytes, empty file, truncated JPEG
	batch := [][]byte{ant, []byte("GIF89a not really"), {}, ant[:len(ant)/3]}
	preds, _, err := p.Predict(ctx, k.key, batch, 3)
	var ie *infer.ImageError
	if !errors.Is(err, infer.ErrBadImage) || !errors.As(err, &ie) || ie.Index != 1 {
		t.Fatalf("batch with bad images: %v, want ErrBadImage for image 2", err)
	}
	t.Log(err)
	if len(preds) != 4 || preds[0].Err != nil || preds[0].Labels[0].Label != "ant" {
		t.Fatalf("the good photo in a bad batch: %+v", preds)
	}
	wantReasons := []string{"", infer.ReasonUnsupportedFormat, infer.ReasonCorrupt, infer.ReasonCorrupt}
	for i, want := range wantReasons[1:] {
		pr := preds[i+1]
		if !errors.As(pr.Err, &ie) || ie.Reason != want || ie.Index != i+1 || len(pr.Labels) != 0 {
			t.Errorf("image %d: %+v, want reason %s", i+2, pr, want)
			continue
		}
		if strings.HasPrefix(ie.Message, "image ") {
			t.Errorf("message repeats the index: %q", ie.Message)
		}
		t.Logf("image %d: %s: %s", i+2, ie.Reason, ie.Message)
	}

	cases := []struct {
		name   string
		key    infer.Key
		images [][]byte
		topK   int
		want   error
	}{
		{"no images", k.key, nil, 5, infer.ErrInvalid},
		{"too many images", k.key, bytes.Split(bytes.Repeat([]byte{'x'}, infer.MaxImages+1), nil), 5, infer.ErrInvalid},
		{"negative top_k", k.key, [][]byte{ant}, -1, infer.ErrInvalid},
		{"unknown key", f.shufflenet.key, [][]byte{ant}, 5, infer.ErrNotLoaded},
		{"one bad image", k.key, [][]byte{[]byte("BM")}, 5, infer.ErrBadImage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := p.Predict(ctx, tc.key, tc.images, tc.topK)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestLoadFailures(t *testing.T) {
	f := setup(t)
	ctx := context.Background()

	t.Run("signed by another key", func(t *testing.T) {
		p := f.newPool(t, infer.Config{TrustedKeys: [][]byte{f.otherPEM}})
		k := f.mobilenet
		err := p.Load(ctx, k.key, k.path, infer.LoadOptions{})
		if !errors.Is(err, infer.ErrLoadFailed) || !errors.Is(err, inference.ErrBadPackage) || !strings.Contains(err.Error(), k.key.ModelID) {
			t.Fatalf("got %v, want ErrLoadFailed + ErrBadPackage naming the model", err)
		}
		t.Log(err)
		if st, serr := p.State(k.key); st != infer.StateFailed || serr == nil {
			t.Fatalf("state %q %v, want failed with the reason", st, serr)
		}
		if _, _, err := p.Predict(ctx, k.key, [][]byte{photo(t, photos[0].path)}, 1); !errors.Is(err, infer.ErrNotLoaded) {
			t.Fatalf("predict on a failed key: %v", err)
		}
		if pids := f.pluginPids(t); len(pids) > 0 {
			t.Fatalf("a failed load left processes %v", pids)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		p := f.newPool(t, infer.Config{})
		k := f.unsigned
		err := p.Load(ctx, k.key, k.path, infer.LoadOptions{})
		if !errors.Is(err, infer.ErrLoadFailed) || !errors.Is(err, inference.ErrBadPackage) {
			t.Fatalf("got %v, want ErrLoadFailed + ErrBadPackage", err)
		}
		t.Log(err)
	})
	t.Run("no trusted key configured", func(t *testing.T) {
		p := f.newPool(t, infer.Config{TrustedKeys: [][]byte{}})
		err := p.Load(ctx, f.mobilenet.key, f.mobilenet.path, infer.LoadOptions{})
		if !errors.Is(err, infer.ErrLoadFailed) || !strings.Contains(err.Error(), "TrustedKeys") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("package is not what the key says", func(t *testing.T) {
		p := f.newPool(t, infer.Config{})
		key := f.mobilenet.key
		key.SHA256 = f.shufflenet.key.SHA256
		err := p.Load(ctx, key, f.mobilenet.path, infer.LoadOptions{})
		if !errors.Is(err, infer.ErrLoadFailed) || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("got %v", err)
		}
		t.Log(err)
	})
	t.Run("invalid arguments", func(t *testing.T) {
		p := f.newPool(t, infer.Config{})
		good := f.mobilenet.key
		for _, tc := range []struct {
			name string
			key  infer.Key
			path string
		}{
			{"no model id", infer.Key{Version: 1, SHA256: good.SHA256}, f.mobilenet.path},
			{"version 0", infer.Key{ModelID: "m", SHA256: good.SHA256}, f.mobilenet.path},
			{"short sha", infer.Key{ModelID: "m", Version: 1, SHA256: "abc"}, f.mobilenet.path},
			{"upper-case sha", infer.Key{ModelID: "m", Version: 1, SHA256: strings.ToUpper(good.SHA256)}, f.mobilenet.path},
			{"no path", good, ""},
		} {
			if err := p.Start(tc.key, tc.path, infer.LoadOptions{}); !errors.Is(err, infer.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
			}
		}
	})
	t.Run("failure is retried by the next load", func(t *testing.T) {
		p := f.newPool(t, infer.Config{})
		path := filepath.Join(t.TempDir(), "later.tar.gz")
		k := f.mobilenet.key
		err := p.Load(ctx, k, path, infer.LoadOptions{})
		if !errors.Is(err, infer.ErrLoadFailed) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("missing package: %v", err)
		}
		t.Log(err)
		b, err := os.ReadFile(f.mobilenet.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.Load(ctx, k, path, infer.LoadOptions{}); err != nil {
			t.Fatalf("retry after the package appeared: %v", err)
		}
		if st, _ := p.State(k); st != infer.StateReady {
			t.Fatalf("state %q", st)
		}
	})
}

func TestKilledPluginRestarts(t *testing.T) {
	f := setup(t)
	p := f.newPool(t, infer.Config{})
	k := f.mobilenet
	f.load(t, p, k, infer.LoadOptions{})
	ant := [][]byte{photo(t, photos[0].path)}
	ctx := context.Background()
	if _, _, err := p.Predict(ctx, k.key, ant, 1); err != nil {
		t.Fatal(err)
	}
	before, _ := p.Info(k.key)
	if err := syscall.Kill(before.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "killed plugin still alive", func() bool { return !alive(before.Pid) })

	// the first call after the crash may fail (and starts the restart);
	// the next one must work
	failures := 0
	for {
		preds, _, err := p.Predict(ctx, k.key, ant, 1)
		if err == nil {
			if preds[0].Labels[0].Label != "ant" {
				t.Fatalf("after restart: %+v", preds)
			}
			break
		}
		if !errors.Is(err, infer.ErrPluginFailed) {
			t.Fatalf("call after kill -9: %v, want ErrPluginFailed", err)
		}
		t.Log(err)
		if failures++; failures > 1 {
			t.Fatalf("%d calls failed after the crash", failures)
		}
	}
	after, _ := p.Info(k.key)
	if after.Pid == before.Pid || after.Restarts != 1 || after.State != infer.StateReady {
		t.Fatalf("after restart: %+v (pid before %d)", after, before.Pid)
	}
	if pids := f.pluginPids(t); len(pids) != 1 || pids[0] != after.Pid {
		t.Fatalf("plugin processes %v, want just %d", pids, after.Pid)
	}
}

func TestIdleUnload(t *testing.T) {
	f := setup(t)
	validation, service := f.mobilenet, f.shufflenet
	ant := [][]byte{photo(t, photos[0].path)}
	// The idle timeout is a budget this machine sets: several times what a
	// start and a call take here, so a slow CPU is not mistaken for idling.
	start := time.Now()
	warm := f.newPool(t, infer.Config{})
	f.load(t, warm, service, infer.LoadOptions{})
	if _, _, err := warm.Predict(context.Background(), service.key, ant, 1); err != nil {
		t.Fatal(err)
	}
	idle := max(500*time.Millisecond, 3*time.Since(start))
	_ = warm.Close()
	t.Logf("idle timeout %s", idle)

	p := f.newPool(t, infer.Config{IdleTimeout: idle})
	f.load(t, p, validation, infer.LoadOptions{Unloadable: true})
	loaded := time.Now()
	f.load(t, p, service, infer.LoadOptions{})
	if _, _, err := p.Predict(context.Background(), validation.key, ant, 1); err != nil {
		if since := time.Since(loaded); since < idle {
			t.Fatalf("validation model gone %s after it was ready (idle timeout %s): %v", since, idle, err)
		}
		f.load(t, p, validation, infer.LoadOptions{Unloadable: true}) // this machine blew the budget
	}
	vInfo, _ := p.Info(validation.key)

	// calls keep it loaded
	until := time.Now().Add(2 * idle)
	for time.Now().Before(until) {
		if _, _, err := p.Predict(context.Background(), validation.key, ant, 1); err != nil {
			t.Fatalf("while in use: %v", err)
		}
		time.Sleep(idle / 5)
	}
	waitFor(t, 5*time.Second+2*idle, "idle validation model was not unloaded", func() bool {
		st, _ := p.State(validation.key)
		return st == ""
	})
	// State forgets the key at once; the process is killed right after
	waitFor(t, 5*time.Second, "unloaded model's process still runs", func() bool { return !alive(vInfo.Pid) })
	if st, _ := p.State(service.key); st != infer.StateReady {
		t.Fatalf("service model (not unloadable) is %q", st)
	}
	if _, _, err := p.Predict(context.Background(), validation.key, ant, 1); !errors.Is(err, infer.ErrNotLoaded) {
		t.Fatalf("predict after idle unload: %v", err)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	f := setup(t)
	p := f.newPool(t, infer.Config{})
	f.load(t, p, f.mobilenet, infer.LoadOptions{})
	// one ready and one still starting when Close comes
	if err := p.Start(f.shufflenet.key, f.shufflenet.path, infer.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if pids := f.pluginPids(t); len(pids) == 0 {
		t.Fatal("no plugin process before Close")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if pids := f.pluginPids(t); len(pids) > 0 {
		t.Fatalf("processes %v left after Close", pids)
	}
	if _, _, err := p.Predict(context.Background(), f.mobilenet.key, [][]byte{photo(t, photos[0].path)}, 1); !errors.Is(err, infer.ErrClosed) {
		t.Fatalf("predict after Close: %v", err)
	}
	if err := p.Start(f.mobilenet.key, f.mobilenet.path, infer.LoadOptions{}); !errors.Is(err, infer.ErrClosed) {
		t.Fatalf("start after Close: %v", err)
	}
}

// A service switches from version A to B while clients call it: Load(B),
// point the service at B, Unload(A). No call may fail.
func TestSwitchWithoutFailedCalls(t *testing.T) {
	f := setup(t)
	p := f.newPool(t, infer.Config{})
	a, b := f.mobilenet, f.shufflenet
	f.load(t, p, a, infer.LoadOptions{})
	aInfo, _ := p.Info(a.key)

	var current atomic.Pointer[infer.Key]
	current.Store(&a.key)
	ant := [][]byte{photo(t, photos[0].path)}
	var (
		stop           atomic.Bool
		calls, retries atomic.Int64
		onA, onB       atomic.Int64
		failMu         sync.Mutex
		failures       []error
		wg             sync.WaitGroup
		ctx            = context.Background()
	)
	// predict is what a service handler does: read the key, call, and
	// retry once when the key was switched away under it.
	predict := func() error {
		for {
			key := *current.Load()
			preds, _, err := p.Predict(ctx, key, ant, 1)
			if errors.Is(err, infer.ErrNotLoaded) && *current.Load() != key {
				retries.Add(1)
				continue
			}
			if err != nil {
				return err
			}
			if preds[0].Labels[0].Label != "ant" {
				return errors.New("wrong answer " + preds[0].Labels[0].Label)
			}
			if key == a.key {
				onA.Add(1)
			} else {
				onB.Add(1)
			}
			return nil
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				calls.Add(1)
				if err := predict(); err != nil {
					failMu.Lock()
					failures = append(failures, err)
					failMu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 20*time.Second, "no calls on A", func() bool { return onA.Load() >= 20 })
	f.load(t, p, b, infer.LoadOptions{})
	current.Store(&b.key)
	if err := p.Unload(a.key); err != nil {
		t.Fatal(err)
	}
	if alive(aInfo.Pid) {
		t.Fatalf("A's process %d outlived Unload", aInfo.Pid)
	}
	nB := onB.Load()
	waitFor(t, 20*time.Second, "no calls on B", func() bool { return onB.Load() >= nB+20 })
	stop.Store(true)
	wg.Wait()

	t.Logf("%d calls: %d on A, %d on B, %d retried after the switch", calls.Load(), onA.Load(), onB.Load(), retries.Load())
	if len(failures) > 0 {
		t.Fatalf("%d calls failed during the switch; first: %v", len(failures), failures[0])
	}
	if err := p.Unload(a.key); !errors.Is(err, infer.ErrNotLoaded) {
		t.Fatalf("second Unload: %v", err)
	}
}
