//go:build unix

package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// These tests run the supervisor's policies on the real plugin binary and
// the real packages of the fixture.

func supervise(t *testing.T, f fixture, cfg host.SupervisorConfig) *host.Supervisor {
	t.Helper()
	cfg.Host.Binary = f.binary
	cfg.Logger = zaptest.NewLogger(t)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	s := host.NewSupervisor(cfg)
	t.Cleanup(func() { s.Stop(false) })
	return s
}

func loadRequest(f fixture, path string) inference.LoadRequest {
	return inference.LoadRequest{PackagePath: path, TrustedKeys: [][]byte{f.pubPEM}, IntraOpThreads: 1}
}

// predictAnt classifies the ant photo on in.
func predictAnt(t *testing.T, in *host.Instance) error {
	t.Helper()
	res, err := in.Proc.API().Predict(context.Background(), inference.PredictRequest{
		Images: [][]byte{photo(t, readmePhotos[0].path)}, TopK: 1})
	if err == nil && res.Predictions[0].Labels[0].Label != "ant" {
		t.Errorf("pid %d answered %+v, want ant", in.Proc.Pid(), res.Predictions[0])
	}
	return err
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSupervisorRestartsKilledPlugin(t *testing.T) {
	f := setup(t)
	s := supervise(t, f, host.SupervisorConfig{Restart: host.Backoff{Min: 200 * time.Millisecond, Max: time.Second}})
	if st := s.Status(); st.State != host.StateStarting {
		t.Fatalf("before Load: %+v", st)
	}
	if err := s.Load(context.Background(), loadRequest(f, f.mobilenet)); err != nil {
		t.Fatal(err)
	}
	in, err := s.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if err := predictAnt(t, in); err != nil {
		t.Fatal(err)
	}
	in.Release()

	killed := time.Now()
	if err := syscall.Kill(in.Proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the crash was not noticed", func() bool { return s.Status().State == host.StateStarting })
	if _, err := s.Acquire(); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("Acquire while restarting: %v, want the reason", err)
	}
	// Wait blocks until the new process serves
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	again, err := s.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if took := time.Since(killed); took < 200*time.Millisecond {
		t.Errorf("restarted %s after the crash, before the 200ms back-off", took)
	}
	if again.Proc.Pid() == in.Proc.Pid() || !in.Proc.Exited() {
		t.Fatalf("pid %d replaced by %d", in.Proc.Pid(), again.Proc.Pid())
	}
	if err := predictAnt(t, again); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if st.State != host.StateReady || st.Restarts != 1 || st.Pid != again.Proc.Pid() || st.LastError == nil {
		t.Fatalf("after restart: %+v", st)
	}
	t.Logf("restarted in %s after: %v", time.Since(killed).Round(time.Millisecond), st.LastError)
}

// TestSupervisorRestartGivesUp: when the package cannot be loaded again,
// restarts stop after Attempts and the supervisor says why.
func TestSupervisorRestartGivesUp(t *testing.T) {
	f := setup(t)
	path := filepath.Join(t.TempDir(), "pkg.tar.gz")
	b, err := os.ReadFile(f.mobilenet)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := supervise(t, f, host.SupervisorConfig{Restart: host.Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond, Attempts: 2}})
	if err := s.Load(context.Background(), loadRequest(f, path)); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	s.Kill()
	waitUntil(t, 30*time.Second, "restarts did not give up", func() bool { return s.Status().State == host.StateFailed })
	st := s.Status()
	if st.Restarts != 0 || !strings.Contains(st.Err.Error(), "failed 2 times") || !errors.Is(st.Err, inference.ErrBadRequest) {
		t.Fatalf("after giving up: %+v", st)
	}
	t.Log(st.Err)
}

// TestSupervisorReplacesHungPlugin: a process that stops answering (here
// SIGSTOP) fails its health checks, is killed and replaced.
func TestSupervisorReplacesHungPlugin(t *testing.T) {
	f := setup(t)
	s := supervise(t, f, host.SupervisorConfig{
		Restart: host.Backoff{Min: 10 * time.Millisecond},
		Health:  host.HealthCheck{Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, Failures: 2},
	})
	if err := s.Load(context.Background(), loadRequest(f, f.mobilenet)); err != nil {
		t.Fatal(err)
	}
	hung := s.Status().Pid
	if err := syscall.Kill(hung, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(hung, syscall.SIGKILL) })
	waitUntil(t, 30*time.Second, "the hung process was not replaced", func() bool {
		st := s.Status()
		return st.State == host.StateReady && st.Pid != hung
	})
	if st := s.Status(); st.Restarts != 1 || !strings.Contains(st.LastError.Error(), "2 health checks") {
		t.Fatalf("after replacing the hung process: %+v", st)
	}
	waitUntil(t, 15*time.Second, "the hung process was not killed", func() bool {
		return errors.Is(syscall.Kill(hung, 0), syscall.ESRCH)
	})
	in, err := s.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	if err := predictAnt(t, in); err != nil {
		t.Fatal(err)
	}
}

// TestSupervisorIdleUnload: the supervisor unloads itself after
// IdleTimeout without calls, never while a call holds it.
func TestSupervisorIdleUnload(t *testing.T) {
	f := setup(t)
	const idle = 300 * time.Millisecond
	unloaded := make(chan *host.Supervisor, 1)
	s := supervise(t, f, host.SupervisorConfig{IdleTimeout: idle, OnIdle: func(s *host.Supervisor) { unloaded <- s }})
	if err := s.Load(context.Background(), loadRequest(f, f.mobilenet)); err != nil {
		t.Fatal(err)
	}
	// a call that lasts three idle timeouts keeps it loaded
	in, err := s.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * idle)
	if st := s.Status(); st.State != host.StateReady {
		t.Fatalf("unloaded while a call held it: %+v", st)
	}
	if err := predictAnt(t, in); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	in.Release()

	select {
	case got := <-unloaded:
		if got != s {
			t.Fatal("OnIdle called with another supervisor")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not unloaded when idle")
	}
	if since := time.Since(released); since < idle {
		t.Errorf("unloaded %s after the last call, before the %s idle timeout", since, idle)
	}
	waitUntil(t, 5*time.Second, "the idle process still runs", in.Proc.Exited)
	if st := s.Status(); st.State != host.StateFailed || !errors.Is(st.Err, host.ErrStopped) {
		t.Fatalf("after idle unload: %+v", st)
	}
	if _, err := s.Acquire(); !errors.Is(err, host.ErrStopped) {
		t.Fatalf("Acquire after idle unload: %v", err)
	}
}

// TestSupervisorDrainingSwap: Load while a call runs switches new calls to
// the new process at once; the old one finishes its call and only then is
// killed, and Load returns.
func TestSupervisorDrainingSwap(t *testing.T) {
	f := setup(t)
	s := supervise(t, f, host.SupervisorConfig{})
	ctx := context.Background()
	if err := s.Load(ctx, loadRequest(f, f.mobilenet)); err != nil {
		t.Fatal(err)
	}
	old, err := s.Acquire() // a call in flight on the old process
	if err != nil {
		t.Fatal(err)
	}
	swapped := make(chan error, 1)
	go func() { swapped <- s.Load(ctx, loadRequest(f, f.shufflenet)) }()
	waitUntil(t, 30*time.Second, "new calls never went to the new process", func() bool {
		return s.Status().Model.ID != old.Model.ID
	})
	in, err := s.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if in.Proc.Pid() == old.Proc.Pid() || in.Model.ID == old.Model.ID {
		t.Fatalf("new call on pid %d (%s), the old is %d (%s)", in.Proc.Pid(), in.Model.ID, old.Proc.Pid(), old.Model.ID)
	}
	if err := predictAnt(t, in); err != nil {
		t.Fatal(err)
	}
	in.Release()

	// the call in flight still has its process
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-swapped:
		t.Fatalf("Load returned (%v) before the old process drained", err)
	default:
	}
	if err := predictAnt(t, old); err != nil || old.Proc.Exited() {
		t.Fatalf("old process during the drain: %v (exited %v)", err, old.Proc.Exited())
	}
	old.Release()
	if err := <-swapped; err != nil {
		t.Fatal(err)
	}
	if !old.Proc.Exited() {
		t.Error("old process still runs after the swap")
	}

	// a package that does not load leaves the serving one in place
	pid := s.Status().Pid
	if err := s.Load(ctx, loadRequest(f, f.unsignedPath)); !errors.Is(err, inference.ErrBadPackage) {
		t.Fatalf("swap to an unsigned package: %v", err)
	}
	if st := s.Status(); st.State != host.StateReady || st.Pid != pid {
		t.Fatalf("after a failed swap: %+v, want pid %d serving", st, pid)
	}
}
