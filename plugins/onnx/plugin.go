// Package onnx is the ONNX inference plugin: it loads a model package into
// an onnxruntime session (plugins/onnx/engine), turns photos into tensors
// the way the package's manifest says (plugins/onnx/preprocess) and answers
// with the top-k labels. cmd/autocv-plugin-onnx serves it through
// inference.Serve; the trainer and benchmarks also call it in-process.
package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// DefaultMaxBatch is the most images one model run takes; bigger requests
// are split.
const DefaultMaxBatch = 16

// MaxImages is the most images one Predict call may carry.
const MaxImages = 64

// Plugin implements inference.Plugin. It holds at most one model; Load
// replaces it only once the new one is ready, so Predict never sees a
// half-loaded model.
type Plugin struct {
	kind     string // onnx-cpu or onnx-cuda
	provider string // the execution provider its kind stands for

	mu    sync.RWMutex
	model *model

	predictions, errors atomic.Uint64
}

type model struct {
	manifest *modelpkg.Manifest
	info     inference.Model
	spec     preprocess.Spec
	session  *engine.Session
	dir      string // private folder holding the extracted package, removed on unload
	members  string // the extracted members, inside dir
	maxBatch int
	logits   bool
}

// New returns the plugin serving name (inference.NameONNXCPU or
// inference.NameONNXCUDA). It loads the onnxruntime library.
func New(name string) (*Plugin, error) {
	provider, ok := inference.ProviderFor(name)
	if !ok {
		return nil, fmt.Errorf("unknown plugin name %q", name)
	}
	if err := engine.Init(""); err != nil {
		return nil, err
	}
	sweepStale()
	return &Plugin{kind: name, provider: provider}, nil
}

// Info implements inference.Plugin.
func (p *Plugin) Info(context.Context) (inference.Info, error) {
	return inference.Info{
		Kind:               p.kind,
		Version:            buildinfo.String(),
		APIVersion:         inference.APIVersion,
		ExecutionProviders: engine.Providers(),
		RuntimeVersion:     "onnxruntime " + engine.Version(),
	}, nil
}

// Load implements inference.Plugin.
func (p *Plugin) Load(ctx context.Context, req inference.LoadRequest) (inference.Model, error) {
	start := time.Now()
	provider := req.ExecutionProvider
	if provider == "" {
		provider = p.provider
	}
	// The plugin name picks the provider: onnx-cpu runs cpu only; onnx-cuda
	// runs cuda, or cpu when asked for auto and no GPU works.
	switch {
	case p.provider == engine.CPU && provider != engine.CPU:
		return inference.Model{}, fmt.Errorf("%w: plugin %s runs cpu only; start %s for %s", inference.ErrBadRequest, p.kind, inference.NameONNXCUDA, provider)
	case p.provider == engine.CUDA && provider == engine.CPU:
		return inference.Model{}, fmt.Errorf("%w: plugin %s runs cuda; start %s for cpu", inference.ErrBadRequest, p.kind, inference.NameONNXCPU)
	}
	pkg, err := openPackage(req)
	if err != nil {
		return inference.Model{}, err
	}
	m, err := newModel(pkg, provider, req)
	if err != nil {
		os.RemoveAll(pkg.dir)
		return inference.Model{}, err
	}
	if err := m.selfTest(ctx); err != nil {
		m.close()
		return inference.Model{}, err
	}
	m.info.LoadTime = time.Since(start)

	p.mu.Lock()
	old := p.model
	p.model = m
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	return m.info, nil
}

func newModel(pkg *extracted, provider string, req inference.LoadRequest) (*model, error) {
	mf := pkg.manifest
	spec, err := preprocess.SpecFrom(mf.Preprocess)
	if err != nil {
		return nil, fmt.Errorf("%w: preprocessing: %v", inference.ErrBadPackage, err)
	}
	sess, err := engine.NewSession(pkg.modelPath, engine.Options{
		Provider: provider, IntraOpThreads: req.IntraOpThreads,
		Input: mf.IO.Input, Output: mf.IO.Output,
	})
	if errors.Is(err, engine.ErrProvider) {
		// same words, the contract's sentinel: it survives the gRPC hop
		return nil, fmt.Errorf("%w%s", inference.ErrUnavailable, strings.TrimPrefix(err.Error(), engine.ErrProvider.Error()))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", inference.ErrBadPackage, err)
	}
	logFallback(sess)
	if n := sess.Outputs(); n != 0 && n != len(mf.Labels) {
		sess.Close()
		return nil, fmt.Errorf("%w: model has %d outputs but the manifest lists %d labels", inference.ErrBadPackage, n, len(mf.Labels))
	}
	// The engine splits a batch for models with a fixed batch size itself;
	// maxBatch bounds how many photos are decoded and run at once.
	maxBatch := req.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	return &model{
		manifest: mf, spec: spec, session: sess, dir: pkg.dir, members: pkg.members, maxBatch: maxBatch,
		logits: mf.IO.OutputKind == modelpkg.OutputLogits,
		info: inference.Model{
			ID: mf.ModelID, Version: mf.Version, Labels: mf.Labels,
			ExecutionProvider: sess.Provider(), ManifestSHA256: pkg.manifestSHA256,
		},
	}, nil
}

func (m *model) close() {
	m.session.Close()
	if m.dir != "" {
		os.RemoveAll(m.dir)
	}
}

// Predict implements inference.Plugin.
func (p *Plugin) Predict(ctx context.Context, req inference.PredictRequest) (inference.PredictResult, error) {
	start := time.Now()
	p.mu.RLock()
	m := p.model
	defer p.mu.RUnlock()
	if m == nil {
		return inference.PredictResult{}, inference.ErrNotLoaded
	}
	res, err := m.predict(ctx, req)
	if err != nil {
		p.errors.Add(1)
		return res, err
	}
	for _, pr := range res.Predictions {
		if pr.Err != "" {
			p.errors.Add(1)
		} else {
			p.predictions.Add(1)
		}
	}
	res.TotalTime = time.Since(start)
	return res, nil
}

// Health implements inference.Plugin.
func (p *Plugin) Health(context.Context) (inference.Health, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	h := inference.Health{Predictions: p.predictions.Load(), Errors: p.errors.Load()}
	if m := p.model; m != nil {
		h.Loaded, h.ModelID, h.Version, h.ExecutionProvider = true, m.info.ID, m.info.Version, m.info.ExecutionProvider
	}
	return h, nil
}

// Unload implements inference.Plugin.
func (p *Plugin) Unload(context.Context) error {
	p.mu.Lock()
	m := p.model
	p.model = nil
	p.mu.Unlock()
	if m != nil {
		m.close()
	}
	return nil
}

// decodeWorkers is how many photos are decoded at once.
func decodeWorkers() int { return runtime.GOMAXPROCS(0) }
