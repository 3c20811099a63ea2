package infer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// restartDelays are the waits before each attempt to replace a crashed
// process. After the last failure the entry is failed until the next Load.
var restartDelays = []time.Duration{0, 500 * time.Millisecond, 2 * time.Second}

// errUnloaded is the state of an entry taken out of the pool.
var errUnloaded = errors.New("unloaded")

// entry is one key's plugin process and its life: starting → ready, ready →
// starting again after a crash, and failed when a load gives up.
type entry struct {
	p    *Pool
	key  Key
	path string
	log  *zap.Logger

	unloadable bool // guarded by p.mu

	ctx    context.Context // cancelled when the entry leaves the pool
	cancel context.CancelFunc
	bg     sync.WaitGroup // the loading/restarting goroutine
	calls  sync.WaitGroup // Predicts holding the entry; Add only under p.mu
	active atomic.Int32   // same count, readable by the sweeper
	used   atomic.Int64   // unix nanoseconds of the last Load or call

	mu       sync.Mutex
	state    string
	err      error        // why it failed
	proc     *host.Plugin // nil unless ready
	model    inference.Model
	ready    chan struct{} // closed when a start settles (ready or failed)
	restarts int
}

func newEntry(p *Pool, key Key, path string, unloadable bool) *entry {
	ctx, cancel := context.WithCancel(p.ctx)
	e := &entry{
		p: p, key: key, path: path, log: p.log.With(zap.Stringer("model", key)),
		unloadable: unloadable, ctx: ctx, cancel: cancel,
		state: StateStarting, ready: make(chan struct{}),
	}
	e.touch()
	return e
}

func (e *entry) touch()              { e.used.Store(time.Now().UnixNano()) }
func (e *entry) lastUsed() time.Time { return time.Unix(0, e.used.Load()) }

func (e *entry) release() {
	e.touch()
	e.active.Add(-1)
	e.calls.Done()
}

func (e *entry) status() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, e.err
}

func (e *entry) current() *host.Plugin {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

func (e *entry) info() Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := Info{State: e.state, Err: e.err, Model: e.model, Restarts: e.restarts, LastUsed: e.lastUsed()}
	if e.proc != nil {
		in.Pid = e.proc.Pid()
	}
	return in
}

// wait returns the running process once the entry is ready; it waits
// while the entry starts (or restarts), at most until ctx ends.
func (e *entry) wait(ctx context.Context) (*host.Plugin, inference.Model, error) {
	for {
		e.mu.Lock()
		state, proc, model, err, ready := e.state, e.proc, e.model, e.err, e.ready
		e.mu.Unlock()
		switch state {
		case StateReady:
			return proc, model, nil
		case StateFailed:
			return nil, model, fmt.Errorf("%w: %s: %w", ErrNotLoaded, e.key, err)
		}
		select {
		case <-ctx.Done():
			return nil, model, fmt.Errorf("model %s is still loading: %w", e.key, ctx.Err())
		case <-ready:
		}
	}
}

// load is the first start of the entry's process.
func (e *entry) load() {
	defer e.p.wg.Done()
	defer e.bg.Done()
	start := time.Now()
	proc, model, err := e.launch()
	switch {
	case err != nil && e.ctx.Err() != nil:
		e.log.Info("model load abandoned: unloaded or pool closed", zap.Error(err))
	case err != nil:
		e.log.Warn("model load failed", zap.Error(err))
	default:
		e.log.Info("model loaded", zap.Int("pid", proc.Pid()), zap.Duration("took", time.Since(start)),
			zap.String("provider", model.ExecutionProvider), zap.Int("labels", len(model.Labels)))
	}
	e.settle(proc, model, err)
}

// settle ends a start: ready with proc, or failed with err. A process
// that comes up after the entry left the pool is killed.
func (e *entry) settle(proc *host.Plugin, model inference.Model, err error) {
	if err == nil && e.ctx.Err() != nil {
		proc.Kill()
		proc, err = nil, errUnloaded
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != StateStarting {
		// retire got here first; nothing may be installed any more
		if proc != nil {
			go proc.Kill()
		}
		return
	}
	if err != nil {
		e.state, e.err, e.proc = StateFailed, err, nil
	} else {
		e.state, e.err, e.proc, e.model = StateReady, nil, proc, model
		e.touch() // a slow start is not idle time
	}
	close(e.ready)
}

// launch starts a plugin process and loads the package into it.
func (e *entry) launch() (*host.Plugin, inference.Model, error) {
	cfg := e.p.cfg
	ctx, cancel := context.WithTimeout(e.ctx, cfg.LoadTimeout)
	defer cancel()
	if len(cfg.TrustedKeys) == 0 {
		return nil, inference.Model{}, fmt.Errorf("%w: %s: the pool has no trusted signing key (Config.TrustedKeys)", ErrLoadFailed, e.key)
	}
	if err := checkSHA256(e.path, e.key.SHA256); err != nil {
		return nil, inference.Model{}, fmt.Errorf("%w: %s: %w", ErrLoadFailed, e.key, err)
	}
	proc, err := host.Start(ctx, host.Config{
		Binary: cfg.PluginBinary, Name: cfg.PluginName, Env: cfg.Env, Logger: e.log,
		StartTimeout: min(cfg.LoadTimeout, 30*time.Second),
	})
	if err != nil {
		return nil, inference.Model{}, fmt.Errorf("%w: %s: %w", ErrLoadFailed, e.key, err)
	}
	model, err := proc.Load(ctx, inference.LoadRequest{
		PackagePath: e.path, TrustedKeys: cfg.TrustedKeys, IntraOpThreads: cfg.Threads,
	})
	if err != nil {
		proc.Kill()
		// the plugin's message names the package file
		return nil, inference.Model{}, fmt.Errorf("%w: %s: %w", ErrLoadFailed, e.key, err)
	}
	return proc, model, nil
}

// checkSHA256 makes sure the file at path is the package the key names.
func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("package file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("package file: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("package file %s has sha256 %s, not the %s its key names", path, got, want)
	}
	return nil
}

// restart replaces dead, the entry's process, in the background; calls
// arriving meanwhile wait for the new one. Only the first report of a dead
// process acts.
func (e *entry) restart(dead *host.Plugin, why error) {
	e.mu.Lock()
	if e.proc != dead || e.state != StateReady {
		e.mu.Unlock()
		return
	}
	e.proc, e.state, e.ready = nil, StateStarting, make(chan struct{})
	e.mu.Unlock()
	e.log.Warn("plugin process failed; restarting it", zap.Int("pid", dead.Pid()), zap.Error(why))
	if !e.p.spawn(e, func() { dead.Kill(); e.relaunch() }) {
		dead.Kill()
		e.settle(nil, inference.Model{}, errUnloaded)
	}
}

func (e *entry) relaunch() {
	var err error
	for attempt, delay := range restartDelays {
		t := time.NewTimer(delay)
		select {
		case <-e.ctx.Done():
			t.Stop()
			e.settle(nil, inference.Model{}, errUnloaded)
			return
		case <-t.C:
		}
		var proc *host.Plugin
		var model inference.Model
		if proc, model, err = e.launch(); err == nil {
			e.mu.Lock()
			e.restarts++
			e.mu.Unlock()
			e.log.Info("plugin restarted", zap.Int("pid", proc.Pid()), zap.Int("attempt", attempt+1))
			e.settle(proc, model, nil)
			return
		}
		e.log.Warn("plugin restart failed", zap.Int("attempt", attempt+1), zap.Error(err))
	}
	e.settle(nil, inference.Model{}, fmt.Errorf("restarting after a crash failed %d times: %w", len(restartDelays), err))
}

// retire ends an entry already taken out of the pool: with drain it lets
// running calls finish first; then it stops its goroutines and kills its
// process.
func (e *entry) retire(drain bool) {
	if drain {
		if st, _ := e.status(); st != StateReady {
			e.cancel() // nobody needs a load that has not finished
		}
		e.calls.Wait()
	}
	e.cancel()
	e.bg.Wait()
	e.mu.Lock()
	proc := e.proc
	if e.state == StateStarting {
		close(e.ready)
	}
	e.proc, e.state, e.err = nil, StateFailed, errUnloaded
	e.mu.Unlock()
	if proc != nil {
		proc.Kill()
		e.log.Info("model unloaded", zap.Int("pid", proc.Pid()))
	}
}
