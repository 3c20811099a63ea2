//go:build unix

package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fixture is what every end-to-end test shares: the agent and plugin
// binaries and a signed demo package, built once.
type fixture struct {
	dir      string // holds everything below
	agent    string // autocv-agent binary (CGO_ENABLED=0)
	plugin   string // autocv-plugin-onnx binary
	ort      string // onnxruntime library
	data     string // shared test data
	pkg      string // signed package; signing.pub beside it
	manifest *modelpkg.Manifest
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

// setup returns the shared fixture, building it on first use. It skips
// (fails under CI=true) when the test data or onnxruntime is missing.
func setup(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds binaries and runs a model; skipped with -short")
	}
	data := testenv.DataDir(t)
	ort := testenv.ORTLibrary(t)
	fixOnce.Do(func() { fix, fixErr = build(t, data, ort) })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func build(t *testing.T, data, ort string) (*fixture, error) {
	dir, err := os.MkdirTemp("", "autocv-agent-e2e-")
	if err != nil {
		return nil, err
	}
	f := &fixture{dir: dir, data: data, ort: ort,
		agent: filepath.Join(dir, "bin", "autocv-agent"), plugin: filepath.Join(dir, "bin", host.BinaryName())}
	root := testenv.RepoRoot(t)
	if err := goBuild(root, f.agent, "./agent/cmd/autocv-agent", "CGO_ENABLED=0"); err != nil {
		return f, err
	}
	if err := goBuild(root, f.plugin, "./plugins/onnx/cmd/autocv-plugin-onnx"); err != nil {
		return f, err
	}
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		return f, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "pkg"), 0o755); err != nil {
		return f, err
	}
	f.pkg = filepath.Join(dir, "pkg", "model.tar.gz")
	// demopkg runs the backbone in this process to record golden outputs.
	if err := engine.Init(ort); err != nil {
		return f, err
	}
	if f.manifest, err = demopkg.Build(data, demopkg.MobileNetV2, priv, f.pkg); err != nil {
		return f, fmt.Errorf("build demo package: %w", err)
	}
	return f, modelpkg.WritePublicKey(filepath.Join(dir, "pkg", "signing.pub"), pub)
}

// goBuild builds into one folder: the agent finds its plugin beside itself,
// which testenv.GoBuild's folder-per-binary does not give.
func goBuild(root, out, pkg string, env ...string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// agentProc is a running autocv-agent.
type agentProc struct {
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:PORT
	stderr *syncBuffer
	exited chan struct{}
	err    error // exit error, once exited is closed
}

// startAgent runs the agent with args and waits until it prints the
// address it listens on.
func (f *fixture) startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	a := f.command(args...)
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() { a.stop(t) })

	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case x := <-addr:
		a.url = "http://" + x
	case <-a.exited:
		t.Fatalf("agent exited before listening: %v\n%s", a.err, a.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not print its address in 30s\n%s", a.stderr)
	}
	return a
}

// command prepares an agent process with the plugin binary and onnxruntime.
func (f *fixture) command(args ...string) *agentProc {
	cmd := exec.Command(f.agent, args...)
	cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+f.ort, "AUTOCV_PLUGIN_BINARY="+f.plugin, "AUTOCV_LOG_LEVEL=debug")
	a := &agentProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = a.stderr
	return a
}

// run runs the agent to completion and returns its stderr and exit error.
func (f *fixture) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	a := f.command(args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		<-ctx.Done()
		_ = a.cmd.Process.Kill()
	}()
	err := a.cmd.Run()
	return a.stderr.String(), err
}

// stop asks the agent to shut down and waits for it.
func (a *agentProc) stop(t *testing.T) {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
		t.Errorf("agent did not exit within 20s of SIGINT\n%s", a.stderr)
	}
}

// waitHealthy polls /healthz until it answers 200.
func (a *agentProc) waitHealthy(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-a.exited:
			t.Fatalf("agent exited: %v\n%s", a.err, a.stderr)
		default:
		}
		resp, err := http.Get(a.url + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("agent not healthy within %s; last /healthz: %s\n%s", within, last, a.stderr)
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
