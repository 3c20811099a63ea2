package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/inference"
)

// These tests drive the Runner's bookkeeping with in-memory processes; the
// end-to-end tests in agent/ run the real plugin.

type fakeProc struct {
	pid    int
	exited atomic.Bool
	killed atomic.Bool
	api    *fakePlugin
	// loadProvider is the ExecutionProvider its Load was asked for.
	loadProvider string
}

func (p *fakeProc) API() inference.Plugin { return p.api }
func (p *fakeProc) Pid() int              { return p.pid }
func (p *fakeProc) Info() inference.Info {
	return inference.Info{Kind: inference.NameONNXCPU, Version: "test"}
}
func (p *fakeProc) Exited() bool { return p.exited.Load() }
func (p *fakeProc) Kill()        { p.killed.Store(true); p.exited.Store(true) }

type fakePlugin struct {
	inference.Plugin // unused methods panic
	proc             *fakeProc
	block            chan struct{} // Predict waits for it when set
	entered          chan struct{} // Predict signals here when set
	hang             atomic.Bool   // Health blocks until its context ends
	healthErrs       atomic.Int32  // Health fails this many more times
	healthCalls      atomic.Int32
}

func (f *fakePlugin) gone() error {
	if f.proc.exited.Load() {
		return fmt.Errorf("%w: pid %d", inference.ErrPluginGone, f.proc.pid)
	}
	return nil
}

func (f *fakePlugin) Load(_ context.Context, req inference.LoadRequest) (inference.Model, error) {
	if strings.Contains(req.PackagePath, "bad") {
		return inference.Model{}, fmt.Errorf("%w: signature does not verify", inference.ErrBadPackage)
	}
	f.proc.loadProvider = req.ExecutionProvider
	return inference.Model{ID: filepath.Base(req.PackagePath), Version: 1, Labels: []string{"a", "b"}, ExecutionProvider: "cpu"}, nil
}

func (f *fakePlugin) Predict(context.Context, inference.PredictRequest) (inference.PredictResult, error) {
	if err := f.gone(); err != nil {
		return inference.PredictResult{}, err
	}
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	return inference.PredictResult{Predictions: []inference.Prediction{{Labels: []inference.Label{{Label: fmt.Sprint(f.proc.pid), Confidence: 1}}}}}, nil
}

func (f *fakePlugin) Health(ctx context.Context) (inference.Health, error) {
	f.healthCalls.Add(1)
	if f.hang.Load() {
		<-ctx.Done() // as a gRPC call to a stuck process does
		return inference.Health{}, ctx.Err()
	}
	if f.healthErrs.Add(-1) >= 0 {
		return inference.Health{}, errors.New("health: internal error")
	}
	return inference.Health{Loaded: true}, f.gone()
}

// procs starts fake processes with pids 100, 101, ...; fail makes start
// number n (0-based) fail.
type procs struct {
	mu   sync.Mutex
	all  []*fakeProc
	fail func(n int) bool
	next func(p *fakePlugin) // adjusts each new plugin
}

func (ps *procs) start(context.Context) (Proc, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := len(ps.all)
	p := &fakeProc{pid: 100 + n}
	p.api = &fakePlugin{proc: p}
	ps.all = append(ps.all, p)
	if ps.fail != nil && ps.fail(n) {
		p.exited.Store(true)
		return nil, errors.New("plugin did not start")
	}
	if ps.next != nil {
		ps.next(p.api)
	}
	return p, nil
}

func (ps *procs) get(i int) *fakeProc {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.all[i]
}

func newTestRunner(t *testing.T, ps *procs, pkg string) *Runner {
	t.Helper()
	r := New(Config{
		Package: Package{Path: pkg}, Start: ps.start,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		PollInterval: 5 * time.Millisecond, DrainTimeout: 5 * time.Second,
	})
	t.Cleanup(r.Close)
	return r
}

func predictPid(t *testing.T, r *Runner) (string, error) {
	t.Helper()
	res, err := r.Predict(context.Background(), inference.PredictRequest{Images: [][]byte{{1}}})
	if err != nil {
		return "", err
	}
	return res.Predictions[0].Labels[0].Label, nil
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestStartAndPredict(t *testing.T) {
	ps := &procs{}
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if _, err := r.Predict(context.Background(), inference.PredictRequest{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("before Start: %v, want ErrUnavailable", err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := r.Predict(context.Background(), inference.PredictRequest{Images: [][]byte{{1}}})
	if err != nil || res.Model.ID != "m1.tar.gz" || res.Predictions[0].Labels[0].Label != "100" {
		t.Fatalf("Predict = %+v, %v", res, err)
	}
	st, err := r.Health(context.Background())
	if err != nil || st.Pid != 100 || st.Package != "/pkgs/m1.tar.gz" {
		t.Fatalf("Health = %+v, %v", st, err)
	}
}

func TestStartRejectedPackageNotRetried(t *testing.T) {
	ps := &procs{}
	r := newTestRunner(t, ps, "/pkgs/bad.tar.gz")
	err := r.Start(context.Background())
	if !errors.Is(err, inference.ErrBadPackage) {
		t.Fatalf("Start = %v, want ErrBadPackage", err)
	}
	if !ps.get(0).killed.Load() {
		t.Error("process of a rejected package was not killed")
	}
	time.Sleep(30 * time.Millisecond)
	if len(ps.all) != 1 {
		t.Errorf("%d processes started, want 1 (no retry)", len(ps.all))
	}
	if _, err := r.Status(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("Status = %v", err)
	}
}

func TestRestartAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name   string
		notice func(t *testing.T, r *Runner) // how the death is noticed
	}{
		{"by a request", func(t *testing.T, r *Runner) {
			_, err := predictPid(t, r)
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "restarted") {
				t.Errorf("Predict on a dead process = %v, want ErrUnavailable saying it restarts", err)
			}
		}},
		{"by polling", func(*testing.T, *Runner) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := &procs{}
			r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			ps.get(0).exited.Store(true)
			tc.notice(t, r)
			waitFor(t, "restart", func() bool { return r.Restarts() == 1 })
			if pid, err := predictPid(t, r); pid != "101" || err != nil {
				t.Errorf("after restart: Predict from %s, %v; want pid 101", pid, err)
			}
			if !ps.get(0).killed.Load() {
				t.Error("dead process was not cleaned up")
			}
		})
	}
}

func TestRestartRetriesWithBackoff(t *testing.T) {
	ps := &procs{fail: func(n int) bool { return n >= 1 && n <= 3 }} // 3 failed restarts
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps.get(0).exited.Store(true)
	sawAttempt := false
	waitFor(t, "restart", func() bool {
		if _, err := r.Status(); err != nil && strings.Contains(err.Error(), "attempt 3") {
			sawAttempt = true
		}
		return r.Restarts() == 1
	})
	if pid, _ := predictPid(t, r); pid != "104" {
		t.Errorf("served by pid %s, want 104", pid)
	}
	if !sawAttempt {
		t.Log("never observed attempt 3 in Status (timing); restart still succeeded")
	}
}

func TestBackoff(t *testing.T) {
	b := supervisorConfig(Config{MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}).Restart
	for n, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		if got := b.Delay(n); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// healthRunner is a test Runner that checks health every 5ms with a 20ms
// timeout and gives up after 3 failures.
func healthRunner(t *testing.T, ps *procs) *Runner {
	t.Helper()
	r := New(Config{
		Package: Package{Path: "/pkgs/m1.tar.gz"}, Start: ps.start,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, PollInterval: 5 * time.Millisecond,
		DrainTimeout: 5 * time.Second, HealthInterval: 5 * time.Millisecond, HealthTimeout: 20 * time.Millisecond, HealthFailures: 3,
	})
	t.Cleanup(r.Close)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRestartHungPlugin: a process that stays up but no longer answers is
// killed after 3 failed health checks and replaced.
func TestRestartHungPlugin(t *testing.T) {
	ps := &procs{}
	r := healthRunner(t, ps)
	hung := ps.get(0)
	hung.api.hang.Store(true)
	waitFor(t, "restart", func() bool { return r.Restarts() == 1 })
	if !hung.killed.Load() {
		t.Error("the hung process was not killed")
	}
	if n := hung.api.healthCalls.Load(); n < 3 {
		t.Errorf("replaced after %d health checks, want 3", n)
	}
	if pid, err := predictPid(t, r); pid != "101" || err != nil {
		t.Errorf("after restart: Predict from %s, %v; want pid 101", pid, err)
	}
	if w := r.sup.Status().LastError; w == nil || !strings.Contains(w.Error(), "3 health checks") || !strings.Contains(w.Error(), "no answer within 20ms") {
		t.Errorf("why = %v", w)
	}
}

// TestHealthFailuresMustBeConsecutive: failures with a success between
// them do not replace the process.
func TestHealthFailuresMustBeConsecutive(t *testing.T) {
	ps := &procs{}
	r := healthRunner(t, ps)
	p := ps.get(0)
	for range 3 {
		p.api.healthErrs.Store(2)
		waitFor(t, "two failures and a success", func() bool { return p.api.healthErrs.Load() < 0 })
	}
	if r.Restarts() != 0 || p.killed.Load() {
		t.Errorf("restarted %d times, killed %v", r.Restarts(), p.killed.Load())
	}
	p.api.healthErrs.Store(3)
	waitFor(t, "restart", func() bool { return r.Restarts() == 1 })
	if !p.killed.Load() {
		t.Error("the failing process was not killed")
	}
}

// TestDeadAfterCloseIsKilled: a process that dies while Close drains its
// requests is killed, not left behind.
func TestDeadAfterCloseIsKilled(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	ps := &procs{next: func(p *fakePlugin) { p.block, p.entered = block, entered }}
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := ps.get(0)
	done := make(chan error, 1)
	go func() {
		_, err := predictPid(t, r)
		done <- err
	}()
	<-entered
	closed := make(chan struct{})
	go func() {
		r.Close()
		close(closed)
	}()
	waitFor(t, "Close to begin", func() bool { _, err := r.Status(); return err != nil })
	p.exited.Store(true) // died, not killed
	close(block)
	if err := <-done; err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Predict = %v, want success or ErrUnavailable", err)
	}
	<-closed
	if !p.killed.Load() {
		t.Error("the dead process was never killed")
	}
	if len(ps.all) != 1 {
		t.Errorf("%d processes started, want 1 (no restart after Close)", len(ps.all))
	}
}
