// Package reconcile is the agent's control loop in run mode: it brings the
// device to the desired state the control plane publishes, and says how
// that goes.
//
// One goroutine (Run) owns the loop. It takes desired states from the MQTT
// session, each acted on once by id (the latest wins: a newer one cancels
// the one being applied), republishes the retained reported state on every
// (re)connection and sends telemetry. Applying a desired model runs in one
// worker goroutine at a time, owned by Run: download (transfer), check the
// size and sha256 (store) and the ed25519 signature with the enrolled key
// (modelpkg.VerifyFile), then start it in a new plugin process, which
// self-tests the package's golden samples, and switch traffic to it
// (runner.Swap). If the new model fails to load, fails its self-test or
// fails its health check, the old one keeps (or goes back to) serving,
// and the reason goes out as a rolled_back event and reported.last_error.
// The current and previous packages stay on disk; older ones are deleted.
//
// A desired agent version goes first: the binary is downloaded the same
// way into the store, its signature checked with the enrolled key
// (fleet.VerifyBinaryDigest) and handed to Config.UpdateAgent, which
// installs it and restarts the agent. That desired state stays unhandled;
// the restarted agent takes it up again and, knowing how the update went
// (Config.LastAgentUpdate), reports it applied, or rolled_back with the
// reason when the new binary did not become healthy and the old one came
// back, and then deploys the desired model, if any.
package reconcile

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
)

// Server serves the model: *runner.Runner.
type Server interface {
	StartPackage(ctx context.Context, pkg runner.Package) error
	Swap(ctx context.Context, pkg runner.Package) error
	Health(ctx context.Context) (runner.Status, error)
	Status() (runner.Status, error)
}

// Session is the MQTT session: *session.Session.
type Session interface {
	Desired() <-chan *fleet.Desired
	NextConnect() <-chan struct{}
	Send(m fleet.Message) error
	Publish(ctx context.Context, m fleet.Message) error
}

// Fetcher downloads packages: *transfer.Fetcher.
type Fetcher interface {
	Fetch(ctx context.Context, src transfer.Source, progress transfer.Progress) (string, error)
}

// Config configures a Reconciler. Zero durations get the defaults noted.
type Config struct {
	State    *state.Dir
	Store    *store.Store
	Session  Session
	Fetcher  Fetcher
	Server   Server
	TrustKey ed25519.PublicKey // packages must be signed with it
	TrustPEM []byte            // the same key, PEM, for the plugin
	// Plugin is the inference plugin the agent runs (reported).
	Plugin string
	// Providers are the execution providers the onnxruntime library
	// carries, learnt at start (runner.Choice); reported until a running
	// plugin says so itself. nil: not known.
	Providers    []string
	AgentVersion string
	Meter        *Meter // counts the HTTP API for telemetry; nil = none
	Logger       *zap.Logger

	// UpdateAgent installs a new agent binary, already downloaded and its
	// signature checked, and starts the agent's restart into it; it
	// returns nil once the binary is in place and the shutdown has begun
	// (the command: selfupdate.Apply, the one shutdown path, then
	// selfupdate.Pending.Restart). nil: desired agent versions are
	// refused.
	UpdateAgent func(ctx context.Context, u AgentUpdate) error
	// LastAgentUpdate is how the last self-update ended
	// (selfupdate.ReadOutcome); nil when there was none. The desired
	// state that asked for it (Outcome.Ref) is reported as applied or
	// rolled back, and not tried again.
	LastAgentUpdate *selfupdate.Outcome
	// Trial: this agent is a new binary on trial (selfupdate.OnTrial). It
	// starts the deployed model and reports, but applies no desired
	// state: that is for the agent that runs after the trial.
	Trial bool

	TelemetryInterval time.Duration // default 1m
	// HealthGrace is how long a freshly swapped model has to pass a health
	// check before the previous one is put back; default 10s.
	HealthGrace time.Duration
}

// Reconciler is the control loop; Run drives it.
type Reconciler struct {
	cfg   Config
	log   *zap.Logger
	start time.Time
	nonce string
	seq   atomic.Uint64
	// booted is closed once Run has started the deployed model (or found
	// none to start, or failed to start it).
	booted chan struct{}

	mu      sync.Mutex // guards the fields below
	dep     state.Deployment
	st      fleet.State
	serving bool // the Server has been started with a model
	errText string
}

// job is a desired state being applied by the worker goroutine.
type job struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Reconciler for cfg.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.TelemetryInterval <= 0 {
		cfg.TelemetryInterval = time.Minute
	}
	if cfg.HealthGrace <= 0 {
		cfg.HealthGrace = 10 * time.Second
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger, start: time.Now(), nonce: nonce(), st: fleet.StateIdle,
		booted: make(chan struct{})}
}

// Run starts the deployed model (if any) and reconciles until ctx ends;
// then it stops the worker, publishes the offline state and returns.
func (r *Reconciler) Run(ctx context.Context) error {
	dep, err := r.cfg.State.Deployment()
	if err != nil {
		r.log.Error("deployment record unreadable; starting with no model", zap.Error(err))
	}
	r.mu.Lock()
	r.dep, r.errText = dep, dep.LastError
	r.mu.Unlock()
	connected := r.cfg.Session.NextConnect()
	r.sendReported()
	r.boot(ctx)
	close(r.booted)

	tick := time.NewTicker(r.cfg.TelemetryInterval)
	defer tick.Stop()
	var cur *job
	for {
		var jobDone chan struct{}
		if cur != nil {
			jobDone = cur.done
		}
		select {
		case <-ctx.Done():
			if cur != nil {
				cur.cancel()
				<-cur.done
			}
			r.publishOffline()
			return nil
		case <-connected:
			connected = r.cfg.Session.NextConnect()
			r.sendReported()
		case <-tick.C:
			r.sendTelemetry()
		case <-jobDone:
			cur = nil
		case d := <-r.cfg.Session.Desired():
			if r.cfg.Trial {
				r.log.Info("on trial as a new agent binary; the desired state waits for the agent after the trial", zap.String("desired", d.ID))
				continue
			}
			if r.seen(d, cur) {
				r.log.Debug("desired state already handled", zap.String("desired", d.ID))
				continue
			}
			if cur != nil {
				r.log.Info("newer desired state; abandoning the one being applied",
					zap.String("abandoned", cur.id), zap.String("desired", d.ID))
				cur.cancel()
				<-cur.done
			}
			cur = r.spawn(ctx, d)
		}
	}
}

// Booted returns a channel closed once Run has tried to start the model
// deployed before the agent started; Healthy then says how that went.
func (r *Reconciler) Booted() <-chan struct{} { return r.booted }

// Healthy reports, once Booted, whether the agent is as healthy as it
// was: it serves the deployed model, or it had none to serve. A new agent
// binary on trial (selfupdate.MarkReady) counts only when it is.
func (r *Reconciler) Healthy() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.serving || r.dep.Current == nil {
		return nil
	}
	return fmt.Errorf("the deployed model %s v%d is not serving: %s", r.dep.Current.ID, r.dep.Current.Version, r.errText)
}

// seen reports whether d was handled already or is being applied.
func (r *Reconciler) seen(d *fleet.Desired, cur *job) bool {
	if cur != nil && cur.id == d.ID {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return d.ID == r.dep.HandledDesiredID
}

// spawn starts the worker goroutine applying d.
func (r *Reconciler) spawn(ctx context.Context, d *fleet.Desired) *job {
	jctx, cancel := context.WithCancel(ctx)
	j := &job{id: d.ID, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		defer cancel()
		r.apply(jctx, d)
	}()
	return j
}
