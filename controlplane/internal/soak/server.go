package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// binaries are the programs the bench runs, all in one folder with the
// onnxruntime library beside them, as make build lays them out.
var binaries = []struct{ name, pkg string }{
	{"autocv-server", "./controlplane/cmd/autocv-server"},
	{"autocv-trainer", "./trainer/cmd/autocv-trainer"},
	{"autocv-plugin-onnx", "./plugins/onnx/cmd/autocv-plugin-onnx"},
}

const ortName = "libonnxruntime.so.1"

// checkBinaries says which of the bench's programs dir lacks.
func checkBinaries(dir string) error {
	for _, name := range []string{binaries[0].name, binaries[1].name, binaries[2].name, ortName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("-bin %s: %s missing (make build, or leave -bin empty to build into a temporary folder)", dir, name)
		}
	}
	return nil
}

// serverProc is a running autocv-server.
type serverProc struct {
	bin, dataDir, dsn string
	logPath           string // the whole server log is appended here too
	threads, trainers int
	env               []string
	url               string
	cmd               *exec.Cmd
	out               *tailBuffer
	done              chan struct{}
}

const adminPassword = "bench-admin-password"

// start runs autocv-server on free loopback ports and waits for /readyz.
func (s *serverProc) start() error {
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	mqttPort, err := freePort()
	if err != nil {
		return err
	}
	s.url = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	args := []string{"--data-dir", s.dataDir, "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--mqtt-addr", fmt.Sprintf("127.0.0.1:%d", mqttPort), "--trainers", strconv.Itoa(s.trainers),
		"--plugin-threads", strconv.Itoa(s.threads), "--log-level", "warn", "--shutdown-timeout", "10s"}
	if s.dsn != "" {
		args = append(args, "--database", s.dsn)
	}
	s.cmd = exec.Command(filepath.Join(s.bin, "autocv-server"), args...)
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Env = append(s.cmd.Env, "AUTOCV_ADMIN_PASSWORD="+adminPassword)
	setParentDeath(s.cmd)
	s.out = &tailBuffer{}
	var w io.Writer = s.out
	if s.logPath != "" {
		f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		w = io.MultiWriter(s.out, f)
	}
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("autocv-server exited at start:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("autocv-server not ready after 60s:\n%s", s.out.String())
		}
	}
}

// stop ends the server with SIGTERM, killing it if it hangs.
func (s *serverProc) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last 16 KiB a process wrote, for error messages.
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.b.Len() > 32<<10 {
		keep := append([]byte(nil), t.b.Bytes()[t.b.Len()-16<<10:]...)
		t.b.Reset()
		t.b.Write(keep)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b.Bytes()
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
