//go:build linux

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"

	"github.com/autocv/autocv/controlplane/internal/rig"
)

// postgres is a throwaway PostgreSQL cluster in a temporary folder on a
// free 127.0.0.1 port. controlplane/store/pgtest does the same for tests,
// but it needs a testing.TB, which a main cannot make; this is the same
// recipe (initdb, postgres with durability off, run as the postgres OS user
// when we are root, killed with us through the parent-death signal).
type postgres struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// errNoPostgres: the server binaries are not installed; the bench skips
// PostgreSQL and says so.
var errNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found; install postgresql or set AUTOCV_PGBIN")

// pgBinDir finds initdb and postgres: $AUTOCV_PGBIN, else the newest
// /usr/lib/postgresql/*/bin.
func pgBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv("AUTOCV_PGBIN"); d != "" {
		candidates = append(candidates, d)
	}
	vers, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(vers, func(i, j int) bool { return pgMajor(vers[i]) > pgMajor(vers[j]) })
	candidates = append(candidates, vers...)
	for _, d := range candidates {
		_, e1 := os.Stat(filepath.Join(d, "initdb"))
		_, e2 := os.Stat(filepath.Join(d, "postgres"))
		if e1 == nil && e2 == nil {
			return d, nil
		}
	}
	return "", errNoPostgres
}

func pgMajor(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// startPostgres creates a cluster in a new temporary folder and starts
// it. The folder sits right in the temp dir, not in the bench's own 0700
// folder, because the postgres OS user must reach it.
func startPostgres() (*postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "autocv-bench-pg-")
	if err != nil {
		return nil, err
	}
	p := &postgres{dir: dir}
	ok := false
	defer func() {
		if !ok {
			p.stop()
		}
	}()
	var cred *syscall.Credential
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if p.port, err = rig.FreePort(); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(p.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=64MB")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()

	db, err := sql.Open("pgx", p.dsn("postgres"))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		if err == nil {
			_, err = db.ExecContext(ctx, "CREATE DATABASE autocv")
			cancel()
			if err != nil {
				return nil, fmt.Errorf("create database: %w", err)
			}
			ok = true
			return p, nil
		}
		cancel()
		select {
		case <-p.done:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return nil, fmt.Errorf("postgres exited: %s", strings.TrimSpace(string(log)))
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
	}
}

func (p *postgres) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// stop asks for a fast shutdown, kills the process group if that hangs,
// and removes the folder.
func (p *postgres) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	_ = os.RemoveAll(p.dir)
}
