package infer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// Errors of this package; test them with errors.Is.
var (
	// ErrNotLoaded: the key is not loaded (never, unloaded, or its load
	// failed; the message then says why). HTTP: 409 or 404.
	ErrNotLoaded = errors.New("model version is not loaded")
	// ErrLoadFailed: a package could not be loaded; the message says why
	// (bad signature, missing file, plugin would not start...).
	ErrLoadFailed = errors.New("model package could not be loaded")
	// ErrBadImage: an image could not be decoded (see ImageError). HTTP: 400.
	ErrBadImage = errors.New("bad image")
	// ErrInvalid: the caller passed something unusable (key, path, number
	// of images, top_k). HTTP: 400.
	ErrInvalid = errors.New("invalid inference request")
	// ErrPluginFailed: the plugin process failed during the call. It is
	// being restarted; the next call works again. HTTP: 503.
	ErrPluginFailed = errors.New("inference plugin failed")
	// ErrClosed: the pool is closed.
	ErrClosed = errors.New("inference pool is closed")
)

// MaxImages is the most images one Predict call may carry; the ONNX plugin
// refuses more (plugins/onnx.MaxImages, which this cgo-free package cannot
// import).
const MaxImages = 64

// Entry states reported by State.
const (
	StateStarting = "starting" // loading, or restarting after a crash
	StateReady    = "ready"
	StateFailed   = "failed"
)

// Config configures a Pool.
type Config struct {
	PluginBinary string   // "" = host.DefaultBinary()
	PluginName   string   // "" = inference.NameONNXCPU
	Env          []string // extra environment for plugins, e.g. ONNXRUNTIME_LIB=...
	// TrustedKeys are the PEM-encoded ed25519 public keys a package must be
	// signed with: the control plane's own key.
	TrustedKeys [][]byte
	Threads     int // intra-op threads per model; 0 = plugin default
	Log         *zap.Logger
	// IdleTimeout unloads entries loaded with Unloadable after this long
	// without a call; 0 = 10 minutes.
	IdleTimeout time.Duration
	// LoadTimeout bounds starting a plugin and loading a package;
	// 0 = 2 minutes.
	LoadTimeout time.Duration
}

// Key names one loaded package: a model version and the sha256 of its
// package file, so a rebuilt package never reuses a stale process.
type Key struct {
	ModelID string
	Version int
	SHA256  string // lowercase hex sha256 of the package file
}

func (k Key) String() string {
	return fmt.Sprintf("%s v%d (%.12s)", k.ModelID, k.Version, k.SHA256)
}

func (k Key) validate() error {
	if strings.TrimSpace(k.ModelID) == "" {
		return fmt.Errorf("%w: model id is empty", ErrInvalid)
	}
	if k.Version < 1 {
		return fmt.Errorf("%w: model %s: version %d, want 1 or more", ErrInvalid, k.ModelID, k.Version)
	}
	if len(k.SHA256) != 64 || strings.Trim(k.SHA256, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: model %s version %d: package sha256 %q is not 64 lowercase hex digits", ErrInvalid, k.ModelID, k.Version, k.SHA256)
	}
	return nil
}

// LoadOptions say how an entry is kept.
type LoadOptions struct {
	// Unloadable entries (validation) are unloaded after Config.IdleTimeout
	// without calls. If any Load of a key says false, the entry is kept.
	Unloadable bool
}

// Pool keeps loaded models, each in its own plugin process. It is safe for
// concurrent use.
type Pool struct {
	cfg    Config
	log    *zap.Logger
	ctx    context.Context // cancelled by Close; parent of every entry's context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the pool started

	mu      sync.Mutex
	entries map[Key]*entry
	closed  bool
}

// New returns a pool and starts its idle sweeper. Close it.
func New(cfg Config) *Pool {
	if cfg.PluginBinary == "" {
		cfg.PluginBinary = host.DefaultBinary()
	}
	if cfg.PluginName == "" {
		cfg.PluginName = inference.NameONNXCPU
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = 2 * time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{cfg: cfg, log: cfg.Log.Named("infer"), ctx: ctx, cancel: cancel, entries: map[Key]*entry{}}
	p.wg.Add(1)
	go p.maintain()
	return p
}

// Start begins loading packagePath under key in the background and returns
// at once; poll State. It fails only for invalid arguments or a closed
// pool. A key already starting or ready is shared; a failed one is retried.
func (p *Pool) Start(key Key, packagePath string, opts LoadOptions) error {
	_, err := p.start(key, packagePath, opts)
	return err
}

// Load loads packagePath under key and returns when the model is ready, or
// the load error. Concurrent Loads of one key share one process and one
// load. ctx bounds the wait, not the load: a Load given up by its caller
// goes on for the others (and for State).
func (p *Pool) Load(ctx context.Context, key Key, packagePath string, opts LoadOptions) error {
	e, err := p.start(key, packagePath, opts)
	if err != nil {
		return err
	}
	_, _, err = e.wait(ctx)
	if errors.Is(err, ErrNotLoaded) {
		// the load's own error reads better without "not loaded" around it
		if _, lerr := e.status(); lerr != nil {
			return lerr
		}
	}
	return err
}

func (p *Pool) start(key Key, packagePath string, opts LoadOptions) (*entry, error) {
	if err := key.validate(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(packagePath) == "" {
		return nil, fmt.Errorf("%w: model %s: no package path", ErrInvalid, key)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if e := p.entries[key]; e != nil {
		if st, _ := e.status(); st != StateFailed {
			if !opts.Unloadable {
				e.unloadable = false
			}
			e.touch()
			return e, nil
		}
		// a failed entry holds no process and runs no goroutine: retry
	}
	e := newEntry(p, key, packagePath, opts.Unloadable)
	p.entries[key] = e
	e.bg.Add(1)
	p.wg.Add(1)
	go e.load()
	return e, nil
}

// State reports the key's state: StateStarting, StateReady, StateFailed
// (err says why) or "" when the key is not in the pool.
func (p *Pool) State(key Key) (state string, err error) {
	p.mu.Lock()
	e := p.entries[key]
	p.mu.Unlock()
	if e == nil {
		return "", nil
	}
	return e.status()
}

// Info describes a loaded entry, for status pages and tests.
type Info struct {
	State    string
	Err      error
	Pid      int             // plugin process id; 0 while none runs
	Model    inference.Model // what the plugin loaded (labels, provider, load time)
	Restarts int             // processes started after crashes
	LastUsed time.Time
}

// Info returns the key's entry, or false when the key is not in the pool.
func (p *Pool) Info(key Key) (Info, bool) {
	p.mu.Lock()
	e := p.entries[key]
	p.mu.Unlock()
	if e == nil {
		return Info{}, false
	}
	return e.info(), true
}

// Unload removes key from the pool: new Predicts on it get ErrNotLoaded,
// the Predicts already running finish normally, then its process is
// killed. It returns when the process is gone. A caller switching a
// service to another key should point the service at the new key first;
// a request that still gets ErrNotLoaded for the old key should read the
// service's key again and retry if it changed.
func (p *Pool) Unload(key Key) error {
	p.mu.Lock()
	e := p.entries[key]
	if e != nil {
		delete(p.entries, key)
	}
	p.mu.Unlock()
	if e == nil {
		return fmt.Errorf("%w: %s", ErrNotLoaded, key)
	}
	e.retire(true)
	return nil
}

// Close kills every plugin process and stops the pool's goroutines. Calls
// running at that moment fail. When Close returns no process the pool
// started is left.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	all := make([]*entry, 0, len(p.entries))
	for _, e := range p.entries {
		all = append(all, e)
	}
	p.entries = map[Key]*entry{}
	p.mu.Unlock()

	p.cancel()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.retire(false)
		}()
	}
	wg.Wait()
	p.wg.Wait()
	return nil
}

// spawn runs fn as a background goroutine of e, unless e has left the pool
// (then it returns false and runs nothing). Checking under p.mu is what
// keeps Close's and retire's Waits from racing with these Adds.
func (p *Pool) spawn(e *entry, fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.entries[e.key] != e {
		return false
	}
	e.bg.Add(1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer e.bg.Done()
		fn()
	}()
	return true
}

// acquire finds key's entry and counts a call on it, so Unload waits for it.
func (p *Pool) acquire(key Key) (*entry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	e := p.entries[key]
	if e == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotLoaded, key)
	}
	e.calls.Add(1)
	e.active.Add(1)
	e.touch()
	return e, nil
}

// maintain unloads idle Unloadable entries and notices processes that died
// between calls, so they are restarted before the next call needs them.
func (p *Pool) maintain() {
	defer p.wg.Done()
	every := min(max(p.cfg.IdleTimeout/4, 10*time.Millisecond), time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		var idle, all []*entry
		p.mu.Lock()
		for k, e := range p.entries {
			st, _ := e.status()
			if e.unloadable && st != StateStarting && e.active.Load() == 0 && time.Since(e.lastUsed()) >= p.cfg.IdleTimeout {
				delete(p.entries, k)
				idle = append(idle, e)
				continue
			}
			all = append(all, e)
		}
		p.mu.Unlock()
		for _, e := range idle {
			p.log.Info("unloading idle model", zap.Stringer("key", e.key), zap.Duration("idle", time.Since(e.lastUsed())))
			e.retire(true)
		}
		for _, e := range all {
			if proc := e.current(); proc != nil && proc.Exited() {
				e.restart(proc, fmt.Errorf("process %d exited", proc.Pid()))
			}
		}
	}
}
