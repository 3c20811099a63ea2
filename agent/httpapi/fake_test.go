package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fakePlugin stands in for the ONNX plugin in these HTTP-shape tests (the
// end-to-end tests in agent/ use the real one). It "classifies" any image
// as ant, bee, daisy in that order; an image containing "corrupt" fails to
// decode, one containing "crash" kills the process and one containing
// "wait" holds its request until the test opens testAPI.gate.
type fakePlugin struct {
	proc *fakeProc
	api  *testAPI
}

var fakeLabels = []string{"ant", "bee", "daisy"}

func (f *fakePlugin) gone() error {
	if f.proc.exited.Load() {
		return fmt.Errorf("%w: pid %d exited", inference.ErrPluginGone, f.proc.pid)
	}
	return nil
}

func (f *fakePlugin) Info(context.Context) (inference.Info, error) {
	return f.proc.Info(), f.gone()
}

func (f *fakePlugin) Load(context.Context, inference.LoadRequest) (inference.Model, error) {
	return inference.Model{ID: "fake-model", Version: 3, Labels: fakeLabels, ExecutionProvider: "cpu", LoadTime: 1500 * time.Microsecond,
		ManifestSHA256: f.api.manifestSHA256}, f.gone()
}

func (f *fakePlugin) Predict(ctx context.Context, req inference.PredictRequest) (inference.PredictResult, error) {
	if err := f.gone(); err != nil {
		return inference.PredictResult{}, err
	}
	if bytes.Contains(req.Images[0], []byte("wait")) {
		f.api.waiting <- struct{}{}
		select {
		case <-f.api.gate:
		case <-ctx.Done():
			return inference.PredictResult{}, ctx.Err()
		}
	}
	if i := bytes.Index(req.Images[0], []byte("seq:")); i >= 0 {
		f.api.mu.Lock()
		f.api.seen = append(f.api.seen, string(req.Images[0][i+4:]))
		f.api.mu.Unlock()
	}
	conf := []float32{0.7, 0.2, 0.1}
	res := inference.PredictResult{Predictions: make([]inference.Prediction, len(req.Images))}
	for i, img := range req.Images {
		switch {
		case bytes.Contains(img, []byte("crash")):
			f.proc.exited.Store(true)
			return inference.PredictResult{}, f.gone()
		case bytes.Contains(img, []byte("corrupt")):
			res.Predictions[i].Err = fmt.Sprintf("image %d: corrupt image: JPEG: unexpected EOF", i+1)
			continue
		}
		for k := range req.TopK {
			res.Predictions[i].Labels = append(res.Predictions[i].Labels, inference.Label{Label: fakeLabels[k], Confidence: conf[k]})
		}
	}
	return res, nil
}

func (f *fakePlugin) Health(context.Context) (inference.Health, error) {
	return inference.Health{Loaded: true, ModelID: "fake-model", Version: 3}, f.gone()
}

func (f *fakePlugin) Unload(context.Context) error { return f.gone() }

type fakeProc struct {
	pid    int
	exited atomic.Bool
	api    *fakePlugin
}

func (p *fakeProc) API() inference.Plugin { return p.api }
func (p *fakeProc) Pid() int              { return p.pid }
func (p *fakeProc) Exited() bool          { return p.exited.Load() }
func (p *fakeProc) Kill()                 { p.exited.Store(true) }
func (p *fakeProc) Info() inference.Info {
	return inference.Info{Kind: inference.NameONNXCPU, Version: "fake", APIVersion: inference.APIVersion,
		ExecutionProviders: []string{"cpu"}, RuntimeVersion: "none"}
}

// testAPI is the API on a loopback test server, backed by fake processes.
type testAPI struct {
	*httptest.Server
	srv *Server
	run *runner.Runner
	// pkg is a real package file holding the fake model's manifest (the
	// API reads the thresholds from it); manifestSHA256 is its sha256.
	pkg            string
	manifestSHA256 string
	// A "wait" image signals on waiting and waits for gate to close.
	waiting chan struct{}
	gate    chan struct{}

	mu    sync.Mutex
	procs []*fakeProc
	seen  []string // the "seq:X" images predicted, in order
}

func (a *testAPI) start(context.Context) (runner.Proc, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := &fakeProc{pid: 4000 + len(a.procs)}
	p.api = &fakePlugin{proc: p, api: a}
	a.procs = append(a.procs, p)
	return p, nil
}

// newTestAPI starts the API; started says whether the model is loaded.
func newTestAPI(t *testing.T, cfg Config, started bool) *testAPI {
	t.Helper()
	a := &testAPI{waiting: make(chan struct{}, 64), gate: make(chan struct{})}
	a.pkg, a.manifestSHA256 = fakePackage(t)
	a.run = runner.New(runner.Config{
		Package: runner.Package{Path: a.pkg}, Start: a.start, Logger: zaptest.NewLogger(t),
		MinBackoff: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
	})
	t.Cleanup(a.run.Close)
	if started {
		if err := a.run.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Runner, cfg.Logger, cfg.Version = a.run, zaptest.NewLogger(t), "test"
	a.srv = New(cfg)
	a.Server = httptest.NewServer(a.srv.Handler())
	t.Cleanup(a.Server.Close)
	return a
}

// fakeThresholds are the fake package's: ant needs 0.8 (the fake answers
// 0.7, below it), the others the global 0.15 (bee's 0.2 is above it,
// daisy's 0.1 below).
var fakeThresholds = modelpkg.Thresholds{Global: 0.15, PerLabel: map[string]float64{"ant": 0.8}}

// fakePackage writes an unsigned package with the fake model's labels and
// thresholds (the "model" is not ONNX; only the manifest is read) and
// returns its path and its manifest's sha256.
func fakePackage(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(model, []byte("not really onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := modelpkg.Builder{
		Manifest: modelpkg.Manifest{
			ModelID: "fake-model", Version: 3, Labels: fakeLabels, Backbone: "none",
			Preprocess: modelpkg.Preprocess{InputSize: 224, ResizeMode: modelpkg.ResizeStretch, Crop: 224,
				Std: [3]float32{1, 1, 1}, ChannelOrder: modelpkg.ChannelsRGB, Layout: modelpkg.LayoutNCHW},
			IO:         modelpkg.IO{Input: "in", Output: "out", OutputKind: modelpkg.OutputProbabilities},
			Runtime:    modelpkg.Runtime{Opset: 12},
			Thresholds: fakeThresholds,
		},
		ModelPath: model,
	}
	path := filepath.Join(dir, "fake.tar.gz")
	if _, err := b.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.ReadFile(path, modelpkg.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg.ManifestJSON)
	return path, hex.EncodeToString(sum[:])
}
