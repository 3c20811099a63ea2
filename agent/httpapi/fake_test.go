package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/inference"
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
	return inference.Model{ID: "fake-model", Version: 3, Labels: fakeLabels, ExecutionProvider: "cpu", LoadTime: 1500 * time.Microsecond}, f.gone()
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
	run *runner.Runner
	// A "wait" image signals on waiting and waits for gate to close.
	waiting chan struct{}
	gate    chan struct{}

	mu    sync.Mutex
	procs []*fakeProc
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
	a.run = runner.New(runner.Config{
		Package: runner.Package{Path: "/pkgs/fake.tar.gz"}, Start: a.start, Logger: zaptest.NewLogger(t),
		MinBackoff: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
	})
	t.Cleanup(a.run.Close)
	if started {
		if err := a.run.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Runner, cfg.Logger, cfg.Version = a.run, zaptest.NewLogger(t), "test"
	a.Server = httptest.NewServer(New(cfg).Handler())
	t.Cleanup(a.Server.Close)
	return a
}
