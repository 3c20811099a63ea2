//go:build linux

package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
)

// server is the one PostgreSQL of this test binary.
type server struct {
	dir  string // temporary folder: data/, the socket, postgres.log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
	db   *sql.DB       // admin connection to database "postgres"
}

var (
	mu      sync.Mutex
	started *server
	skipMsg string // why no server: missing binaries
	failErr error  // why no server: it did not start
)

// Main runs the tests and then stops the server and removes its folder,
// whatever the tests did. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the server (fast shutdown) and removes its folder. Main calls
// it; it is safe to call when no server was started.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if started == nil {
		return
	}
	started.stop()
	started = nil
}

// DSN returns the address of a new, empty database on the test server,
// starting the server on first use.
func DSN(t testing.TB) string {
	t.Helper()
	s := get(t)
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return s.dsn(name)
}

func get(t testing.TB) *server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if started == nil && skipMsg == "" && failErr == nil {
		bin, err := binDir()
		if err != nil {
			skipMsg = err.Error()
		} else {
			started, failErr = start(bin)
		}
	}
	switch {
	case skipMsg != "":
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: %s", skipMsg)
		}
		t.Skipf("pgtest: %s", skipMsg)
	case failErr != nil:
		t.Fatalf("pgtest: %v", failErr)
	}
	return started
}

// binDir finds the folder holding initdb and postgres.
func binDir() (string, error) {
	var candidates []string
	if d := os.Getenv("AUTOCV_PGBIN"); d != "" {
		candidates = append(candidates, d)
	}
	candidates = append(candidates, "/usr/lib/postgresql/15/bin")
	vers, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(vers, func(i, j int) bool { return pgVersion(vers[i]) > pgVersion(vers[j]) })
	candidates = append(candidates, vers...)
	for _, d := range candidates {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found in %s; install postgresql or set AUTOCV_PGBIN",
		strings.Join(candidates, ", "))
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// start runs initdb and postgres. A port taken between choosing it and
// postgres binding it is retried with another.
func start(bin string) (*server, error) {
	removeStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	var out []byte
	err = onLockedThread(func() error { out, err = initdb.CombinedOutput(); return err })
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		s := &server{dir: dir}
		if lastErr = s.run(bin, cred); lastErr == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

const (
	dirPrefix = "autocv-pgtest-"
	ownerFile = "owner.pid" // the test binary that made the folder
)

// removeStale removes the folders of earlier test binaries that died
// without Stop (a panic or a kill); their postgres died with them.
// Folders of live binaries, e.g. another package's tests running now, stay.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // being created right now, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if !alive(pid) {
			os.RemoveAll(d)
		}
	}
}

// alive reports whether a process runs; a zombie (exited, not yet reaped:
// some containers' init never reaps) counts as gone.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) != syscall.ESRCH // no /proc: ask the kernel
	}
	// pid (comm) state …; comm may hold spaces and parentheses.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// credential makes dir usable by the postgres OS user when we are root,
// and returns the credential to run the server with (nil: as ourselves).
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *server) run(bin string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(port), "-k", s.dir, "-c", "listen_addresses=127.0.0.1",
		// A throwaway cluster: durability off, small and fast.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "max_wal_size=256MB",
	)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Pdeathsig: should the test binary die without calling Stop, the
	// kernel sends postgres SIGQUIT (immediate shutdown).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	// The parent-death signal fires when the OS thread that started the
	// child ends, not the process; Go ends threads only when a goroutine
	// locked to one returns. So start postgres from a goroutine that keeps
	// its thread until postgres exits.
	s.done = make(chan struct{})
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			startErr <- err
			return
		}
		startErr <- nil
		s.cmd.Wait()
		close(s.done)
	}()
	if err := <-startErr; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}

	s.db, err = sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		s.kill()
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = s.db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			s.db.Close()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited on port %d: %s", port, tail(log))
		default:
		}
		if time.Now().After(deadline) {
			s.db.Close()
			s.kill()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres on port %d did not accept connections within 30s: %v\n%s", port, err, tail(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// stop asks for a fast shutdown, then kills after a grace period.
func (s *server) stop() {
	if s.db != nil {
		s.db.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.kill()
		}
	}
	os.RemoveAll(s.dir)
}

func (s *server) kill() {
	// The whole process group: the postmaster and its backends.
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// onLockedThread runs fn on one OS thread, so a child it starts with a
// parent-death signal is not signalled by the runtime retiring the thread.
func onLockedThread(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return fn()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func tail(b []byte) string {
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}
