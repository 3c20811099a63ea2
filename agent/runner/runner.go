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
//
// The supervision itself is a host.Supervisor; the Runner sets its
// policies and speaks the agent's terms.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// stableAfter is how long a process must have served before its death
// resets the restart back-off: a plugin that crashes again right after
// every restart is restarted ever more slowly, up to MaxBackoff.
const stableAfter = time.Minute

// supervisorConfig is the agent's supervision policy: restart for ever
// with back-off, health checks, draining swaps, never unload.
func supervisorConfig(cfg Config) host.SupervisorConfig {
	or := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	return host.SupervisorConfig{
		Start: cfg.Start, Host: cfg.Host, Logger: cfg.Logger,
		Restart: host.Backoff{Min: cfg.MinBackoff, Max: cfg.MaxBackoff, StableAfter: stableAfter},
		Health: host.HealthCheck{Interval: or(cfg.HealthInterval, 5*time.Second),
			Timeout: or(cfg.HealthTimeout, 5*time.Second), Failures: cfg.HealthFailures},
		DrainTimeout: or(cfg.DrainTimeout, 30*time.Second),
		LoadTimeout:  cfg.LoadTimeout, PollInterval: cfg.PollInterval,
	}
}

// Proc is one running plugin process as the Runner sees it: a
// *host.Plugin, or a test's own.
type Proc = host.Proc

// Status describes the model being served and the process serving it.
type Status struct {
	Model    inference.Model
	Plugin   inference.Info
	Pid      int
	Package  string
	LoadedAt time.Time
	Restarts uint64
}

// Runner owns the plugin process serving the model. Its methods are safe
// for concurrent use.
type Runner struct {
	cfg Config
	sup *host.Supervisor

	mu       sync.Mutex
	pkg      Package
	started  bool
	closed   bool
	startErr error // why the last Start failed
}

// New returns a Runner for cfg; Start launches the plugin.
func New(cfg Config) *Runner {
	return &Runner{cfg: cfg, pkg: cfg.Package, sup: host.NewSupervisor(supervisorConfig(cfg))}
}

// StartPackage is Start with pkg in place of Config.Package. The agent in
// run mode creates its Runner (and the HTTP API on it) before any package
// is deployed, and starts it with the first one; until then requests get
// ErrUnavailable. After an error it may be called again.
func (r *Runner) StartPackage(ctx context.Context, pkg Package) error {
	return r.start(ctx, &pkg)
}

// Start launches the plugin, loads the package and begins supervising the
// process. An error here (bad package, untrusted signature, no plugin
// binary) is returned as is, without retrying.
func (r *Runner) Start(ctx context.Context) error { return r.start(ctx, nil) }

func (r *Runner) start(ctx context.Context, pkg *Package) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return errors.New("runner: Start or StartPackage called twice or after Close")
	}
	if pkg != nil {
		r.pkg = *pkg
	}
	r.started, r.startErr = true, nil
	req := r.request(r.pkg)
	r.mu.Unlock()

	err := r.sup.Load(ctx, req)
	if errors.Is(err, host.ErrStopped) {
		return fmt.Errorf("%w: the agent is shutting down", ErrUnavailable)
	}
	if err != nil {
		r.mu.Lock()
		r.started, r.startErr = false, err // Start may be called again
		r.mu.Unlock()
	}
	return err
}

// Swap loads pkg into a new plugin process and, once it has loaded, makes
// it the serving one in a single step. Requests already running on the old
// process finish there (up to DrainTimeout); then it is killed. If pkg does
// not load, the old process keeps serving and the error says why.
func (r *Runner) Swap(ctx context.Context, pkg Package) error {
	r.mu.Lock()
	running := r.started && !r.closed
	r.mu.Unlock()
	var err error
	if running {
		err = r.sup.Load(ctx, r.request(pkg))
	}
	if !running || errors.Is(err, host.ErrStopped) {
		return fmt.Errorf("swap to %s: %w: the runner is not running (Start it first; Swap after Close is refused)", pkg.Path, ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("swap to %s: %w (the previous model keeps serving)", pkg.Path, err)
	}
	return nil
}

func (r *Runner) request(pkg Package) inference.LoadRequest {
	return inference.LoadRequest{PackagePath: pkg.Path, TrustedKeys: pkg.TrustedKeys, ExecutionProvider: r.cfg.ExecutionProvider}
}

// unavailable is ErrUnavailable saying why no process serves; why is the
// supervisor's reason.
func (r *Runner) unavailable(why error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := why.Error()
	switch {
	case r.closed:
		msg = "the agent is shutting down"
	case r.startErr != nil:
		msg = "the model package could not be loaded: " + r.startErr.Error()
	case !r.started && r.pkg.Path == "":
		msg = "no model has been deployed to this device yet"
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, msg)
}

// gone turns a call error on in into ErrUnavailable when its process has
// died; the supervisor restarts it.
func (r *Runner) gone(in *host.Instance, err error) error {
	if !r.sup.Gone(in, err) {
		return err
	}
	return fmt.Errorf("%w: the inference plugin stopped while answering (%v); it is being restarted, try again in a few seconds", ErrUnavailable, err)
}

func (r *Runner) status(in *host.Instance) Status {
	return Status{
		Model: in.Model, Plugin: in.Proc.Info(), Pid: in.Proc.Pid(),
		Package: in.Request.PackagePath, LoadedAt: in.ReadyAt, Restarts: r.Restarts(),
	}
}

// Restarts is how many times a dead plugin process has been replaced.
func (r *Runner) Restarts() uint64 { return uint64(r.sup.Status().Restarts) }

// Status describes what is being served, or returns ErrUnavailable.
func (r *Runner) Status() (Status, error) {
	in, err := r.sup.Acquire()
	if err != nil {
		return Status{}, r.unavailable(err)
	}
	in.Release()
	return r.status(in), nil
}

// Close stops supervising, kills the plugin process after its requests
// drain (up to DrainTimeout) and waits for everything it started.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.sup.Stop(true)
}

// KillNow kills the serving process without draining; it is the forced
// exit path after a second signal.
func (r *Runner) KillNow() { r.sup.Kill() }
