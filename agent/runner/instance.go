package runner

import (
	"sync"
	"time"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// Proc is one running plugin process as the Runner sees it. *host.Plugin
// fits through HostProc; tests may supply their own.
type Proc interface {
	API() inference.Plugin // the plugin's calls
	Pid() int
	Info() inference.Info // what the plugin said about itself at start
	Exited() bool
	Kill() // stop the process and wait for it
}

// HostProc adapts a *host.Plugin to Proc.
type HostProc struct{ *host.Plugin }

// API implements Proc.
func (h HostProc) API() inference.Plugin { return h.Plugin.Plugin }

// instance is a plugin process with a model loaded into it. Requests hold
// a reference while they use it, so a retired instance is killed only
// after its last request has finished (or the drain timeout has passed).
type instance struct {
	proc     Proc
	model    inference.Model
	pkg      Package
	loadedAt time.Time

	mu      sync.Mutex
	refs    int
	closing bool
	drained chan struct{} // closed when closing and refs reaches 0
}

func newInstance(proc Proc, model inference.Model, pkg Package) *instance {
	return &instance{proc: proc, model: model, pkg: pkg, loadedAt: time.Now(), drained: make(chan struct{})}
}

// acquire takes a reference; it fails once the instance is retiring.
func (in *instance) acquire() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closing {
		return false
	}
	in.refs++
	return true
}

// release drops a reference taken by acquire.
func (in *instance) release() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.refs--
	if in.closing && in.refs == 0 {
		close(in.drained)
	}
}

// retire refuses new references, waits up to timeout for the ones held to
// be released and kills the process. It is safe to call more than once.
func (in *instance) retire(timeout time.Duration) {
	in.mu.Lock()
	first := !in.closing
	in.closing = true
	if first && in.refs == 0 {
		close(in.drained)
	}
	in.mu.Unlock()
	if !first {
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-in.drained:
	case <-t.C:
	}
	in.proc.Kill()
}

// Status describes the model being served and the process serving it.
type Status struct {
	Model    inference.Model
	Plugin   inference.Info
	Pid      int
	Package  string
	LoadedAt time.Time
	Restarts uint64
}

func (in *instance) status(restarts uint64) Status {
	return Status{
		Model: in.model, Plugin: in.proc.Info(), Pid: in.proc.Pid(),
		Package: in.pkg.Path, LoadedAt: in.loadedAt, Restarts: restarts,
	}
}
