//go:build linux

package pgtest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		child()
		return
	}
	Main(m)
}

// child starts a server, prints its postmaster pid and folder, and waits
// to be killed.
func child() {
	bin, err := binDir()
	if err != nil {
		fmt.Println("skip", err)
		os.Exit(0)
	}
	s, err := start(bin)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("started", s.cmd.Process.Pid, s.dir)
	select {}
}

func TestFreshDatabases(t *testing.T) {
	a, b := DSN(t), DSN(t)
	if a == b {
		t.Fatalf("DSN returned %s twice", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{a, b} {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var tables int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&tables); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if tables != 0 {
			t.Fatalf("%s: %d tables in a fresh database", dsn, tables)
		}
		if _, err := db.ExecContext(ctx, "CREATE TABLE mine (x INT)"); err != nil {
			t.Fatal(err)
		}
	}
}

// A test binary that is killed outright takes its postgres with it, and
// the next run removes the folder it left.
func TestServerDiesWithTestBinary(t *testing.T) {
	if _, err := binDir(); err != nil {
		DSN(t) // skips, or fails under CI
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child said nothing: %v", err)
	}
	var pid int
	var dir string
	if _, err := fmt.Sscanf(line, "started %d %s", &pid, &dir); err != nil {
		t.Fatalf("child: %q", strings.TrimSpace(line))
	}
	if !strings.HasPrefix(filepath.Base(dir), dirPrefix) {
		t.Fatalf("child's folder %q", dir)
	}
	if !alive(pid) {
		t.Fatalf("postgres %d not running under the child", pid)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postgres %d still running 15s after its test binary died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	removeStale()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		os.RemoveAll(dir)
		t.Fatalf("stale folder %s not removed: %v", dir, err)
	}
}
