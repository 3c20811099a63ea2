// Package host launches inference plugin processes and talks to them. It is
// what the agent and the control plane use to run models: they stay
// cgo-free, and a plugin that crashes takes only its own process down.
//
// A Plugin is one running process serving one plugin name (onnx-cpu or
// onnx-cuda). Its calls go over gRPC (go-plugin); when the process is gone
// every call fails with an error matching inference.ErrPluginGone.
//
// A Supervisor keeps one model package served by such a process: it
// starts the process and loads the package, replaces the process when it
// crashes or hangs, swaps packages without failing a call, and unloads
// itself when idle, as its SupervisorConfig says. The agent's runner and
// the control plane's inference pool are both built on it.
package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/inference"
)

// BinaryName is the ONNX plugin binary's file name on this OS.
func BinaryName() string {
	if runtime.GOOS == "windows" {
		return "autocv-plugin-onnx.exe"
	}
	return "autocv-plugin-onnx"
}

// DefaultBinary returns the plugin binary beside the running executable.
func DefaultBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return BinaryName()
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Join(filepath.Dir(exe), BinaryName())
}

// Config says which plugin to start.
type Config struct {
	Binary string // plugin executable; "" = DefaultBinary()
	Name   string // inference.NameONNXCPU (default) or inference.NameONNXCUDA
	Env    []string
	Logger *zap.Logger
	// StartTimeout bounds the handshake; default 30s.
	StartTimeout time.Duration
}

// Proc is one running plugin process as a Supervisor sees it. *Plugin is
// one; tests may supply their own.
type Proc interface {
	API() inference.Plugin // the plugin's calls
	Pid() int
	Info() inference.Info // what the plugin said about itself at start
	Exited() bool
	Kill() // stop the process and wait for it
}

// Plugin is a running plugin process. Its inference.Plugin methods call the
// process; Kill stops it.
type Plugin struct {
	inference.Plugin
	name   string
	client *plugin.Client
	pid    int
	info   inference.Info
}

// ErrStart means the plugin process could not be started or did not answer
// as an inference plugin.
var ErrStart = errors.New("inference plugin did not start")

// Start launches the plugin binary, completes the handshake and checks the
// API version it speaks.
func Start(ctx context.Context, cfg Config) (*Plugin, error) {
	if cfg.Name == "" {
		cfg.Name = inference.NameONNXCPU
	}
	if _, ok := inference.ProviderFor(cfg.Name); !ok {
		return nil, fmt.Errorf("%w: unknown plugin name %q (want %s or %s)", ErrStart, cfg.Name, inference.NameONNXCPU, inference.NameONNXCUDA)
	}
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary()
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("%w: plugin binary: %v", ErrStart, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	log := cfg.Logger.With(zap.String("plugin", cfg.Name))

	stderr := &tail{max: 2048}
	cmd := exec.Command(cfg.Binary)
	cmd.Env = append(append(os.Environ(), cfg.Env...), inference.NameEnv+"="+cfg.Name)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  inference.Handshake,
		Plugins:          plugin.PluginSet{cfg.Name: &inference.GRPCPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  inference.DialOptions(),
		StartTimeout:     cfg.StartTimeout,
		Logger:           hclogFor(log),
		Stderr:           stderr,
	})
	p, err := dispense(client, cfg.Name)
	if err != nil {
		client.Kill()
		if said := stderr.String(); said != "" {
			// what the plugin printed before it died says more than
			// go-plugin's generic handshake advice
			return nil, fmt.Errorf("%w: %s as %s: %s", ErrStart, cfg.Binary, cfg.Name, said)
		}
		return nil, fmt.Errorf("%w: %s as %s: %v", ErrStart, cfg.Binary, cfg.Name, err)
	}
	info, err := p.Plugin.Info(ctx)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%w: %s: Info: %v", ErrStart, cfg.Name, err)
	}
	if info.APIVersion < inference.MinAPIVersion {
		client.Kill()
		return nil, fmt.Errorf("%w: %s speaks inference API %d, this host needs at least %d: install a matching plugin",
			ErrStart, cfg.Binary, info.APIVersion, inference.MinAPIVersion)
	}
	p.info = info
	if err := bindToHost(p.pid); err != nil {
		log.Warn("plugin will not be stopped automatically if this process crashes", zap.Int("pid", p.pid), zap.Error(err))
	}
	log.Info("plugin started", zap.Int("pid", p.pid), zap.String("version", info.Version),
		zap.Strings("providers", info.ExecutionProviders), zap.String("runtime", info.RuntimeVersion))
	return p, nil
}

func dispense(client *plugin.Client, name string) (*Plugin, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(name)
	if err != nil {
		return nil, err
	}
	impl, ok := raw.(inference.Plugin)
	if !ok {
		return nil, fmt.Errorf("plugin %s does not implement the inference API", name)
	}
	p := &Plugin{name: name, client: client}
	p.Plugin = &guard{Plugin: impl, p: p}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	return p, nil
}

// API is the plugin's calls (Proc).
func (p *Plugin) API() inference.Plugin { return p.Plugin }

// Name is the plugin name the process serves.
func (p *Plugin) Name() string { return p.name }

// Info is what the plugin said about itself when it started.
func (p *Plugin) Info() inference.Info { return p.info }

// Pid is the plugin's process id.
func (p *Plugin) Pid() int { return p.pid }

// Exited reports whether the process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// killGrace is how long Kill waits for go-plugin's own stop, which may
// never end for a frozen process, before it kills the process by force.
const killGrace = 5 * time.Second

// Kill stops the process (gracefully first, then by force) and waits for it.
func (p *Plugin) Kill() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.client.Kill()
	}()
	select {
	case <-done:
		return
	case <-time.After(killGrace):
	}
	if proc, err := os.FindProcess(p.pid); err == nil && !p.client.Exited() {
		proc.Kill()
	}
	<-done
}

// guard turns failures of a dead process into ErrPluginGone with the pid.
type guard struct {
	inference.Plugin
	p *Plugin
}

func (g *guard) wrap(err error) error {
	if err == nil {
		return nil
	}
	if g.p.client.Exited() && !errors.Is(err, inference.ErrPluginGone) {
		return fmt.Errorf("%w: %s (pid %d) exited: %v", inference.ErrPluginGone, g.p.name, g.p.pid, err)
	}
	if errors.Is(err, inference.ErrPluginGone) {
		return fmt.Errorf("%s (pid %d): %w", g.p.name, g.p.pid, err)
	}
	return err
}

func (g *guard) Info(ctx context.Context) (inference.Info, error) {
	i, err := g.Plugin.Info(ctx)
	return i, g.wrap(err)
}

func (g *guard) Load(ctx context.Context, req inference.LoadRequest) (inference.Model, error) {
	m, err := g.Plugin.Load(ctx, req)
	return m, g.wrap(err)
}

func (g *guard) Predict(ctx context.Context, req inference.PredictRequest) (inference.PredictResult, error) {
	r, err := g.Plugin.Predict(ctx, req)
	return r, g.wrap(err)
}

func (g *guard) Health(ctx context.Context) (inference.Health, error) {
	h, err := g.Plugin.Health(ctx)
	return h, g.wrap(err)
}

func (g *guard) Unload(ctx context.Context) error {
	return g.wrap(g.Plugin.Unload(ctx))
}

// hclogFor sends go-plugin's logs (and the plugin's stderr) to zap.
func hclogFor(log *zap.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "go-plugin",
		Level:      hclog.Info,
		Output:     zapWriter{log},
		JSONFormat: true,
	})
}

type zapWriter struct{ log *zap.Logger }

func (w zapWriter) Write(b []byte) (int, error) {
	w.log.Info("plugin log", zap.ByteString("line", trimNL(b)))
	return len(b), nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
