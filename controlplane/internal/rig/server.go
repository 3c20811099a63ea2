package rig

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

// ORTName is the file name of the onnxruntime library beside the binaries.
const ORTName = "libonnxruntime.so.1"

// BuildBinaries builds the binaries into dir with go build (run from the
// repository root) and copies the onnxruntime library beside them.
func BuildBinaries(dir, ortLib string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, b := range binaries {
		args = append(args, b.pkg)
	}
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run the bench from the repository root): %v\n%s", err, out)
	}
	lib, err := os.ReadFile(ortLib)
	if err != nil {
		return fmt.Errorf("onnxruntime library (make deps, or set ONNXRUNTIME_LIB): %w", err)
	}
	return os.WriteFile(filepath.Join(dir, ORTName), lib, 0o644)
}

// CheckBinaries says which of the bench's programs dir lacks.
func CheckBinaries(dir string) error {
	for _, name := range []string{binaries[0].name, binaries[1].name, binaries[2].name, ORTName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("-bin %s: %s missing (make build, or leave -bin empty to build into a temporary folder)", dir, name)
		}
	}
	return nil
}

// ServerProc is an autocv-server run from the folder Bin on the data
// folder DataDir. Fill in the exported fields, then Start it.
type ServerProc struct {
	Bin, DataDir, DSN string // DSN: PostgreSQL; "" is SQLite in DataDir
	Threads, Trainers int
	Env               []string // added to this process's environment
	LogPath           string   // if set, the whole server log is appended here too

	url  string
	cmd  *exec.Cmd
	out  *TailBuffer
	done chan struct{}
}

// AdminPassword is the admin password the server starts with.
const AdminPassword = "bench-admin-password"

// Start runs autocv-server on free loopback ports and waits for /readyz.
func (s *ServerProc) Start() error {
	httpPort, err := FreePort()
	if err != nil {
		return err
	}
	mqttPort, err := FreePort()
	if err != nil {
		return err
	}
	s.url = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	args := []string{"--data-dir", s.DataDir, "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--mqtt-addr", fmt.Sprintf("127.0.0.1:%d", mqttPort), "--trainers", strconv.Itoa(s.Trainers),
		"--plugin-threads", strconv.Itoa(s.Threads), "--log-level", "warn", "--shutdown-timeout", "10s"}
	if s.DSN != "" {
		args = append(args, "--database", s.DSN)
	}
	s.cmd = exec.Command(filepath.Join(s.Bin, "autocv-server"), args...)
	s.cmd.Env = append(os.Environ(), s.Env...)
	s.cmd.Env = append(s.cmd.Env, "AUTOCV_ADMIN_PASSWORD="+AdminPassword)
	SetParentDeath(s.cmd)
	s.out = &TailBuffer{}
	var w io.Writer = s.out
	if s.LogPath != "" {
		f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
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
			s.Stop()
			return fmt.Errorf("autocv-server not ready after 60s:\n%s", s.out.String())
		}
	}
}

// Stop ends the server with SIGTERM, killing it if it hangs.
func (s *ServerProc) Stop() {
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

// Restart stops the server and starts it again on the same data folder
// (new ports), e.g. with another number of trainers.
func (s *ServerProc) Restart() error {
	s.Stop()
	return s.Start()
}

// URL is the base URL (http://127.0.0.1:port) of the server the last
// Start ran.
func (s *ServerProc) URL() string { return s.url }

// Pid is the running server's process id, 0 when it is not running.
func (s *ServerProc) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Output is the tail of what the server of the last Start wrote, for
// error messages.
func (s *ServerProc) Output() string {
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// FreePort is a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TailBuffer keeps the last 16 KiB a process wrote, for error messages.
type TailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *TailBuffer) Write(p []byte) (int, error) {
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

func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b.Bytes()
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
