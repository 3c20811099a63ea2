package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/inference"
)

// States a Supervisor reports.
const (
	StateStarting = "starting" // loading, or restarting after a crash
	StateReady    = "ready"
	StateFailed   = "failed" // the load failed, restarts gave up, or stopped
)

// ErrStopped means the supervisor was stopped (Stop, or unloaded when
// idle): it serves nothing any more.
var ErrStopped = errors.New("the model was unloaded and its plugin process stopped")

// errStarting is the state of a supervisor before its first Load is done.
var errStarting = errors.New("the inference plugin is starting and loading the model package")

// SupervisorConfig says how a Supervisor starts plugin processes and keeps
// them. Zero fields get the defaults given.
type SupervisorConfig struct {
	// Start starts one plugin process; nil starts Host with Start.
	Start  func(ctx context.Context) (Proc, error)
	Host   Config
	Logger *zap.Logger

	Restart Backoff     // how a crashed process is replaced
	Health  HealthCheck // how a live process is checked; zero: not checked

	// IdleTimeout stops the supervisor after this long without a call
	// (the clock starts when its process becomes ready); then OnIdle is
	// called with it. 0: never. OnIdle must not call Stop.
	IdleTimeout time.Duration
	OnIdle      func(*Supervisor)

	// DrainTimeout bounds how long a swap (Load) and Stop wait for the
	// calls running on the process they retire; 0: until they end.
	DrainTimeout time.Duration
	LoadTimeout  time.Duration // start + load of one package; default 2m
	PollInterval time.Duration // how often the process is looked at; default 500ms
}

// Backoff says when a crashed process is started again: restart attempt n
// (0-based, counted since the last process that served StableAfter) waits
// Min doubled n times, at most Max.
type Backoff struct {
	Min, Max time.Duration // default 500ms and 30s
	// Attempts is how many restarts after one crash may fail before the
	// supervisor gives up (StateFailed); 0: no limit.
	Attempts int
	// StableAfter is how long a process must have served for its death
	// to reset the doubling; 0: every crash starts again at Min.
	StableAfter time.Duration
}

// Delay is the wait before restart attempt n.
func (b Backoff) Delay(n int) time.Duration {
	d := b.Min
	for range n {
		d *= 2
		if d >= b.Max {
			return b.Max
		}
	}
	return d
}

// HealthCheck replaces a process that stays up but stops answering: Health
// is called every Interval, each call bounded by Timeout, and after
// Failures failures in a row (errors, timeouts, no model loaded) the
// process is killed and restarted.
type HealthCheck struct {
	Interval time.Duration // 0: no health checks
	Timeout  time.Duration // default Interval
	Failures int           // default 3
}

// Supervisor keeps one model package served by a plugin process. Its
// methods are safe for concurrent use. NewSupervisor starts it; Stop it.
type Supervisor struct {
	cfg    SupervisorConfig
	log    *zap.Logger
	ctx    context.Context // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // watch, and dead processes being killed
	loadMu sync.Mutex     // one Load at a time
	wake   chan struct{}  // a call saw the process die

	mu       sync.Mutex
	state    string
	err      error     // why it is not ready; nil when it is
	cur      *Instance // nil unless ready
	req      inference.LoadRequest
	model    inference.Model // the last one loaded
	changed  chan struct{}   // closed at every state change
	stopped  bool
	crashed  bool   // cur died; watch restarts it
	gen      uint64 // bumped by every install: a restart begun before one must not undo it
	lastErr  error
	restarts int
	attempts int // restart attempts since the last stable process
	idle     time.Duration
	used     time.Time
}

// Instance is a plugin process with a package loaded into it. A call
// holds it from Acquire (or Wait) to Release; an instance that is replaced
// is killed only after its calls are released. Its fields are read-only.
type Instance struct {
	Proc    Proc
	Model   inference.Model
	Request inference.LoadRequest
	ReadyAt time.Time

	s       *Supervisor
	refs    int // calls holding it; guarded by s.mu
	closing bool
	drained chan struct{} // closed when closing and refs reaches 0
}

// NewSupervisor returns a supervisor that serves nothing yet (StateStarting);
// Load gives it its package.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Start == nil {
		hc := cfg.Host
		if hc.Logger == nil {
			hc.Logger = cfg.Logger
		}
		cfg.Start = func(ctx context.Context) (Proc, error) {
			p, err := Start(ctx, hc)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	setDefault(&cfg.Restart.Min, 500*time.Millisecond)
	setDefault(&cfg.Restart.Max, 30*time.Second)
	setDefault(&cfg.Health.Timeout, cfg.Health.Interval)
	if cfg.Health.Failures <= 0 {
		cfg.Health.Failures = 3
	}
	setDefault(&cfg.LoadTimeout, 2*time.Minute)
	setDefault(&cfg.PollInterval, 500*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{
		cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		state: StateStarting, err: errStarting, changed: make(chan struct{}),
		idle: cfg.IdleTimeout, used: time.Now(),
	}
	s.wg.Add(1)
	go s.watch()
	return s
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Load starts a process and loads req into it. The first Load makes the
// supervisor ready, or failed with the error (not retried). A Load while a
// process serves is a draining swap: the new process takes the calls that
// come once it has loaded, the calls running on the old one finish there
// (up to DrainTimeout), then the old one is killed and Load returns. If
// the new one does not load, the old one keeps serving. Loads run one at a
// time.
func (s *Supervisor) Load(ctx context.Context, req inference.LoadRequest) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	if s.cur == nil && !s.crashed && !s.stopped {
		s.set(StateStarting, errStarting)
	}
	s.mu.Unlock()

	start := time.Now()
	in, err := s.launch(ctx, req)
	s.mu.Lock()
	switch {
	case s.stopped:
		s.mu.Unlock()
		if in != nil {
			in.Proc.Kill()
		}
		return ErrStopped
	case err != nil:
		if s.cur == nil && !s.crashed {
			s.set(StateFailed, err)
		}
		s.mu.Unlock()
		return err
	}
	old := s.cur
	s.install(in)
	s.mu.Unlock()
	if old != nil {
		s.log.Info("model swapped", zap.String("model", in.Model.ID), zap.Int("version", in.Model.Version),
			zap.Int("pid", in.Proc.Pid()), zap.Int("old_pid", old.Proc.Pid()), zap.Duration("took", time.Since(start)))
		s.retire(old, true)
	}
	return nil
}

// launch starts a process and loads req into it, within LoadTimeout and
// until Stop.
func (s *Supervisor) launch(ctx context.Context, req inference.LoadRequest) (*Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	proc, err := s.cfg.Start(ctx)
	if err != nil {
		return nil, err
	}
	model, err := proc.API().Load(ctx, req)
	if err != nil {
		proc.Kill()
		return nil, fmt.Errorf("load model package %s: %w", req.PackagePath, err)
	}
	s.log.Info("model loaded", zap.String("model", model.ID), zap.Int("version", model.Version),
		zap.Int("labels", len(model.Labels)), zap.String("provider", model.ExecutionProvider),
		zap.Int("pid", proc.Pid()), zap.Duration("load_time", model.LoadTime))
	if req.ExecutionProvider == inference.ProviderAuto && model.ExecutionProvider != inference.ProviderCUDA {
		s.log.Info("no usable GPU: the onnxruntime library carries CUDA but no cuda session works here; the model runs on cpu",
			zap.String("plugin", proc.Info().Kind), zap.String("provider", model.ExecutionProvider))
	}
	return &Instance{Proc: proc, Model: model, Request: req, s: s, drained: make(chan struct{})}, nil
}

// install makes in the serving instance. s.mu is held.
func (s *Supervisor) install(in *Instance) {
	in.ReadyAt = time.Now()
	s.cur, s.req, s.model, s.crashed, s.used = in, in.Request, in.Model, false, in.ReadyAt
	s.gen++
	s.set(StateReady, nil)
}

// set changes the state and wakes Wait. s.mu is held.
func (s *Supervisor) set(state string, err error) {
	s.state, s.err = state, err
	close(s.changed)
	s.changed = make(chan struct{})
}

// Acquire returns the serving instance with a call counted on it; Release
// it when the call is done. When none is ready it returns at once the
// error saying why.
func (s *Supervisor) Acquire() (*Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acquire()
}

func (s *Supervisor) acquire() (*Instance, error) {
	if s.cur == nil {
		return nil, s.err
	}
	s.cur.refs++
	s.used = time.Now()
	return s.cur, nil
}

// Wait is Acquire that waits while the supervisor is starting or
// restarting, at most until ctx ends (then it returns ctx.Err()).
func (s *Supervisor) Wait(ctx context.Context) (*Instance, error) {
	for {
		s.mu.Lock()
		in, err := s.acquire()
		state, changed := s.state, s.changed
		s.mu.Unlock()
		if in != nil || state != StateStarting {
			return in, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// Release ends a call begun by Acquire or Wait.
func (in *Instance) Release() {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = time.Now()
	in.refs--
	if in.closing && in.refs == 0 {
		close(in.drained)
	}
}

// Gone reports whether err, returned by a call on in, means in's process
// is gone: it died, or no longer holds its model. Then the supervisor
// takes it out of service and restarts it. Otherwise err is the plugin's
// answer to the call.
func (s *Supervisor) Gone(in *Instance, err error) bool {
	if !errors.Is(err, inference.ErrPluginGone) && !errors.Is(err, inference.ErrNotLoaded) && !in.Proc.Exited() {
		return false
	}
	s.down(in, err)
	return true
}

// down takes in out of service because its process died or hangs, kills
// it and wakes watch to restart it. Only the first report acts.
func (s *Supervisor) down(in *Instance, why error) {
	s.mu.Lock()
	if s.cur != in {
		s.mu.Unlock()
		return // already handled, swapped out or stopped
	}
	s.cur, s.crashed, s.lastErr = nil, true, why
	if time.Since(in.ReadyAt) >= s.cfg.Restart.StableAfter {
		s.attempts = 0
	}
	s.set(StateStarting, fmt.Errorf("the inference plugin stopped (%v); it is being restarted", why))
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Warn("plugin process gone", zap.Int("pid", in.Proc.Pid()), zap.Error(why))
	go func() {
		defer s.wg.Done()
		s.retire(in, false)
	}()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// retire kills in, which no longer serves; with drain, after the calls
// holding it are released (up to DrainTimeout).
func (s *Supervisor) retire(in *Instance, drain bool) {
	s.mu.Lock()
	in.closing = true
	if in.refs == 0 {
		close(in.drained)
	}
	s.mu.Unlock()
	if drain {
		var timeout <-chan time.Time
		if s.cfg.DrainTimeout > 0 {
			t := time.NewTimer(s.cfg.DrainTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-in.drained:
		case <-timeout:
		}
	}
	in.Proc.Kill()
}

// Status describes a supervisor at one moment.
type Status struct {
	State     string
	Err       error           // why it is not ready; nil when it is
	Pid       int             // the serving process; 0 while none serves
	Model     inference.Model // the package last loaded
	Restarts  int             // processes started to replace dead ones
	LastError error           // why the last process was replaced; nil if none was
	LastUsed  time.Time       // the last call, or when the process became ready
}

// Status returns the supervisor's state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{State: s.state, Err: s.err, Model: s.model, Restarts: s.restarts, LastError: s.lastErr, LastUsed: s.used}
	if s.cur != nil {
		st.Pid = s.cur.Proc.Pid()
	}
	return st
}

// Touch restarts the idle clock.
func (s *Supervisor) Touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = time.Now()
}

// SetIdleTimeout changes IdleTimeout; 0 keeps the supervisor loaded.
func (s *Supervisor) SetIdleTimeout(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = d
}

// Stop stops supervising: no more restarts, a Load under way is
// abandoned, and the serving process is killed, with drain after the
// calls running on it end (up to DrainTimeout). Calls waiting for a start
// get ErrStopped. It returns when the supervisor's goroutines and dead
// processes are gone. It may be called more than once.
func (s *Supervisor) Stop(drain bool) {
	s.mu.Lock()
	in := s.stop()
	s.mu.Unlock()
	s.cancel()
	if in != nil {
		s.retire(in, drain)
	}
	s.wg.Wait()
}

// stop marks the supervisor stopped and returns the instance that served.
// s.mu is held.
func (s *Supervisor) stop() *Instance {
	in := s.cur
	if !s.stopped {
		s.cur, s.stopped, s.crashed = nil, true, false
		s.set(StateFailed, ErrStopped)
	}
	return in
}

// Kill kills the serving process now, without draining or stopping: the
// forced exit.
func (s *Supervisor) Kill() {
	s.mu.Lock()
	in := s.cur
	s.mu.Unlock()
	if in != nil {
		in.Proc.Kill()
	}
}
