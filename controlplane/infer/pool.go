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
	StateStarting = host.StateStarting // loading, or restarting after a crash
	StateReady    = host.StateReady
	StateFailed   = host.StateFailed
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

// Pool keeps loaded models, each in its own plugin process watched by a
// host.Supervisor. It is safe for concurrent use.
type Pool struct {
	cfg Config
	log *zap.Logger
	wg  sync.WaitGroup // the first load of every entry

	mu      sync.Mutex
	entries map[Key]*host.Supervisor
	closed  bool
}

// New returns a pool. Close it.
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
	return &Pool{cfg: cfg, log: cfg.Log.Named("infer"), entries: map[Key]*host.Supervisor{}}
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
	sup, err := p.start(key, packagePath, opts)
	if err != nil {
		return err
	}
	in, err := wait(ctx, key, sup)
	if err != nil {
		// the load's own error reads better without "not loaded" around it
		if lerr := loadError(key, sup.Status()); lerr != nil {
			return lerr
		}
		return err
	}
	in.Release()
	return nil
}

func (p *Pool) start(key Key, packagePath string, opts LoadOptions) (*host.Supervisor, error) {
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
	old := p.entries[key]
	if old != nil {
		if st := old.Status(); st.State != StateFailed {
			if !opts.Unloadable {
				old.SetIdleTimeout(0)
			}
			old.Touch()
			return old, nil
		}
		// a failed entry serves nothing: stop it and retry
		p.wg.Go(func() { old.Stop(false) })
	}
	sup := p.newSupervisor(key, packagePath, opts.Unloadable)
	p.entries[key] = sup
	p.wg.Go(func() {
		err := sup.Load(context.Background(), inference.LoadRequest{
			PackagePath: packagePath, TrustedKeys: p.cfg.TrustedKeys, IntraOpThreads: p.cfg.Threads,
		})
		switch {
		case errors.Is(err, host.ErrStopped):
			p.log.Info("model load abandoned: unloaded or pool closed", zap.Stringer("key", key))
		case err != nil:
			p.log.Warn("model load failed", zap.Stringer("key", key), zap.Error(err))
		}
	})
	return sup, nil
}

// lookup returns key's supervisor.
func (p *Pool) lookup(key Key) (*host.Supervisor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	sup := p.entries[key]
	if sup == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotLoaded, key)
	}
	return sup, nil
}

// forget takes sup out of the pool if it is still key's entry.
func (p *Pool) forget(key Key, sup *host.Supervisor) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries[key] != sup {
		return false
	}
	delete(p.entries, key)
	return true
}

// State reports the key's state: StateStarting, StateReady, StateFailed
// (err says why) or "" when the key is not in the pool.
func (p *Pool) State(key Key) (state string, err error) {
	sup, _ := p.lookup(key)
	if sup == nil {
		return "", nil
	}
	st := sup.Status()
	return st.State, loadError(key, st)
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
	sup, _ := p.lookup(key)
	if sup == nil {
		return Info{}, false
	}
	st := sup.Status()
	return Info{State: st.State, Err: loadError(key, st), Pid: st.Pid, Model: st.Model,
		Restarts: st.Restarts, LastUsed: st.LastUsed}, true
}

// Unload removes key from the pool: new Predicts on it get ErrNotLoaded,
// the Predicts already running finish normally, then its process is
// killed. It returns when the process is gone. A caller switching a
// service to another key should point the service at the new key first;
// a request that still gets ErrNotLoaded for the old key should read the
// service's key again and retry if it changed.
func (p *Pool) Unload(key Key) error {
	sup, err := p.lookup(key)
	if err != nil || !p.forget(key, sup) {
		return fmt.Errorf("%w: %s", ErrNotLoaded, key)
	}
	sup.Stop(true)
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
	all := p.entries
	p.entries = nil
	p.mu.Unlock()
	for _, sup := range all {
		p.wg.Go(func() { sup.Stop(false) })
	}
	p.wg.Wait()
	return nil
}
