// Package runner supervises the inference plugin process that serves the
// agent's model.
//
// A Runner starts the plugin (plugins/host), loads a model package into it
// and hands requests to it. When the process dies, or stays up but fails
// its health checks (it hangs), it is killed and restarted with back-off
// and the package is loaded again; while that happens requests fail fast
// with ErrUnavailable, saying why. Swap loads another package
// into a new process and switches traffic to it atomically, draining the
// old process before killing it, so no request fails during a swap.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// ErrUnavailable means no model can answer right now: the plugin is
// starting, restarting or the runner is closed. The wrapping error says
// which.
var ErrUnavailable = errors.New("no model is being served right now")

// Package is a model package and the keys it must be signed by.
type Package struct {
	Path        string
	TrustedKeys [][]byte // PEM-encoded ed25519 public keys
}

// Config configures a Runner. Zero durations get the defaults below.
type Config struct {
	Package Package
	// Host starts the plugin with host.Start; ignored when Start is set.
	Host host.Config
	// Start starts one plugin process (tests and other runtimes).
	Start  func(ctx context.Context) (Proc, error)
	Logger *zap.Logger
	// ExecutionProvider is asked of every Load, the first and those after
	// a restart or swap alike: "" for the plugin's own provider, or
	// inference.ProviderAuto (see Choice).
	ExecutionProvider string

	MinBackoff   time.Duration // first restart delay; default 500ms
	MaxBackoff   time.Duration // restart delay cap; default 30s
	PollInterval time.Duration // how often an idle process is checked; default 500ms
	LoadTimeout  time.Duration // start + load of one package; default 2m
	DrainTimeout time.Duration // wait for requests on a retired process; default 30s

	// A process that stays up but stops answering is replaced too: the
	// supervisor calls Health every HealthInterval (default 5s), each call
	// bounded by HealthTimeout (default 5s), and after HealthFailures
	// (default 3) failures in a row kills the process and restarts it.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthFailures int
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Start == nil {
		hc := c.Host
		if hc.Logger == nil {
			hc.Logger = c.Logger
		}
		c.Start = func(ctx context.Context) (Proc, error) {
			p, err := host.Start(ctx, hc)
			if err != nil {
				return nil, err
			}
			return HostProc{p}, nil
		}
	}
	setDefault(&c.MinBackoff, 500*time.Millisecond)
	setDefault(&c.MaxBackoff, 30*time.Second)
	setDefault(&c.PollInterval, 500*time.Millisecond)
	setDefault(&c.LoadTimeout, 2*time.Minute)
	setDefault(&c.DrainTimeout, 30*time.Second)
	setDefault(&c.HealthInterval, 5*time.Second)
	setDefault(&c.HealthTimeout, 5*time.Second)
	if c.HealthFailures <= 0 {
		c.HealthFailures = 3
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Runner owns the plugin process serving the model. Its methods are safe
// for concurrent use.
type Runner struct {
	cfg      Config
	log      *zap.Logger
	cur      atomic.Pointer[instance] // nil while (re)starting
	reason   atomic.Pointer[string]   // why cur is nil
	restarts atomic.Uint64
	lastLife atomic.Int64           // how long the last process that died had served
	lastWhy  atomic.Pointer[string] // why it died
	wake     chan struct{}          // a request saw the process die
	swapMu   sync.Mutex             // one Swap at a time

	mu      sync.Mutex // guards pkg, closed, bg.Add and installing cur
	pkg     Package
	closed  bool
	started bool
	bg      sync.WaitGroup // supervisor and retiring instances

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
}

// New returns a Runner for cfg; Start launches the plugin.
func New(cfg Config) *Runner {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cfg: cfg, log: cfg.Logger, pkg: cfg.Package, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	if cfg.Package.Path == "" {
		r.setReason("no model has been deployed to this device yet")
	} else {
		r.setReason("the inference plugin is starting and loading the model package")
	}
	return r
}

// StartPackage is Start with pkg in place of Config.Package. The agent in
// run mode creates its Runner (and the HTTP API on it) before any package
// is deployed, and starts it with the first one; until then requests get
// ErrUnavailable. After an error it may be called again.
func (r *Runner) StartPackage(ctx context.Context, pkg Package) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("runner: StartPackage called after Start or Close")
	}
	r.pkg = pkg
	r.mu.Unlock()
	r.setReason("the inference plugin is starting and loading the model package")
	return r.Start(ctx)
}

// Start launches the plugin, loads the package and begins supervising the
// process. An error here (bad package, untrusted signature, no plugin
// binary) is returned as is, without retrying.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("runner: Start called twice or after Close")
	}
	r.started = true
	pkg := r.pkg
	r.mu.Unlock()

	in, err := r.launch(ctx, pkg)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.started = false // Start may be called again
		r.setReason("the model package could not be loaded: " + err.Error())
		return err
	}
	if r.closed {
		in.retire(0)
		return fmt.Errorf("%w: the agent is shutting down", ErrUnavailable)
	}
	if !r.cur.CompareAndSwap(nil, in) {
		in.retire(0) // a Swap during Start won; serve its package
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		r.supervise()
	}()
	return nil
}

// launch starts a plugin process and loads pkg into it.
func (r *Runner) launch(ctx context.Context, pkg Package) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.LoadTimeout)
	defer cancel()
	proc, err := r.cfg.Start(ctx)
	if err != nil {
		return nil, err
	}
	model, err := proc.API().Load(ctx, inference.LoadRequest{PackagePath: pkg.Path, TrustedKeys: pkg.TrustedKeys,
		ExecutionProvider: r.cfg.ExecutionProvider})
	if err != nil {
		proc.Kill()
		return nil, fmt.Errorf("load model package %s: %w", pkg.Path, err)
	}
	r.log.Info("model loaded", zap.String("model", model.ID), zap.Int("version", model.Version),
		zap.Int("labels", len(model.Labels)), zap.String("provider", model.ExecutionProvider),
		zap.Int("pid", proc.Pid()), zap.Duration("load_time", model.LoadTime))
	if r.cfg.ExecutionProvider == inference.ProviderAuto && model.ExecutionProvider != inference.ProviderCUDA {
		r.log.Info("no usable GPU: the onnxruntime library carries CUDA but no cuda session works here; the model runs on cpu",
			zap.String("plugin", proc.Info().Kind), zap.String("provider", model.ExecutionProvider))
	}
	return newInstance(proc, model, pkg), nil
}

func (r *Runner) setReason(s string) { r.reason.Store(&s) }

// acquire returns the serving instance with a reference held.
func (r *Runner) acquire() (*instance, error) {
	for {
		in := r.cur.Load()
		if in == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, *r.reason.Load())
		}
		if in.acquire() {
			return in, nil
		}
		// in was retired between Load and acquire; a newer one is current.
	}
}

// checkGone turns a call error from in into ErrUnavailable when the
// process behind it has died, and starts its replacement.
func (r *Runner) checkGone(in *instance, err error) error {
	if !errors.Is(err, inference.ErrPluginGone) && !in.proc.Exited() {
		return err
	}
	r.markGone(in, err.Error())
	return fmt.Errorf("%w: the inference plugin stopped while answering (%v); it is being restarted, try again in a few seconds", ErrUnavailable, err)
}

// markGone takes in out of service because its process died or hangs,
// kills it and wakes the supervisor to restart it.
func (r *Runner) markGone(in *instance, why string) {
	if !r.cur.CompareAndSwap(in, nil) {
		return // already handled, or swapped out
	}
	r.lastLife.Store(int64(time.Since(in.loadedAt)))
	r.lastWhy.Store(&why)
	r.setReason("the inference plugin stopped (" + why + "); it is being restarted")
	r.log.Warn("plugin process gone", zap.Int("pid", in.proc.Pid()), zap.String("reason", why))
	r.mu.Lock()
	closed := r.closed
	if !closed {
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			in.retire(0)
		}()
	}
	r.mu.Unlock()
	if closed {
		// Close no longer finds in as cur, so it is ours to kill; Close's
		// bg.Wait may have begun, so not in the background.
		in.retire(0)
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Restarts is how many times a dead plugin process has been replaced.
func (r *Runner) Restarts() uint64 { return r.restarts.Load() }

// Status describes what is being served, or returns ErrUnavailable.
func (r *Runner) Status() (Status, error) {
	in := r.cur.Load()
	if in == nil {
		return Status{}, fmt.Errorf("%w: %s", ErrUnavailable, *r.reason.Load())
	}
	return in.status(r.Restarts()), nil
}

// Close stops supervising, kills the plugin process after its requests
// drain (up to DrainTimeout) and waits for everything it started.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.setReason("the agent is shutting down")
	if in := r.cur.Swap(nil); in != nil {
		in.retire(r.cfg.DrainTimeout)
	}
	r.bg.Wait()
}

// KillNow kills the serving process without draining; it is the forced
// exit path after a second signal.
func (r *Runner) KillNow() {
	if in := r.cur.Load(); in != nil {
		in.proc.Kill()
	}
}
