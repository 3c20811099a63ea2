package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// builds caches GoBuild's binaries for the life of the test binary.
var builds struct {
	mu   sync.Mutex
	dir  string
	done map[string]*build
}

type build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// GoBuild builds the package pkg of this module (a path relative to the
// repository root, "./agent/cmd/autocv-agent", or an import path) once per
// test binary, with extra environment (e.g. "CGO_ENABLED=0") and go build
// flags, and returns the binary's path. Later calls with the same
// arguments reuse it. Binaries live in one temporary folder per test
// binary; the OS's temp cleaning removes it.
func GoBuild(t testing.TB, pkg string, env []string, flags ...string) string {
	t.Helper()
	root := RepoRoot(t)
	key := fmt.Sprintf("%q %q %q", pkg, env, flags)
	builds.mu.Lock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "autocv-test-bin-")
		if err != nil {
			builds.mu.Unlock()
			t.Fatal(err)
		}
		builds.dir, builds.done = dir, map[string]*build{}
	}
	b := builds.done[key]
	if b == nil {
		// each build its own folder, named once, when it is first asked for
		b = &build{dir: filepath.Join(builds.dir, fmt.Sprint(len(builds.done)))}
		builds.done[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() {
		if b.err = os.MkdirAll(b.dir, 0o755); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, path.Base(pkg))
		// go test puts $GOROOT/bin first on the test's PATH
		args := append(append([]string{"build"}, flags...), "-o", b.path, pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LockedBuffer collects a process's output (Stdout and Stderr may write at
// once) for failure messages.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
