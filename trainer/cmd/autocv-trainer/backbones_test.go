package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/backbones"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/jobs"
)

// fakeQueue is a control plane with an empty queue that records lease
// requests.
type fakeQueue struct {
	mu   sync.Mutex
	reqs []jobs.LeaseRequest
}

func (q *fakeQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != jobs.PathLease {
		http.NotFound(w, r)
		return
	}
	var req jobs.LeaseRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q.mu.Lock()
	q.reqs = append(q.reqs, req)
	q.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (q *fakeQueue) requests() []jobs.LeaseRequest {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]jobs.LeaseRequest(nil), q.reqs...)
}

// TestWorkerWaitsForBackbones starts a worker whose backbone folder is
// empty: it must stay up, re-check at its --recheck pace (no tight loop),
// tell the control plane why it cannot train, log that once, and start
// asking for jobs as soon as the files appear, without a restart.
func TestWorkerWaitsForBackbones(t *testing.T) {
	bin := trainerBinary(t)
	data := testenv.Data(t, "backbones")
	q := &fakeQueue{}
	srv := httptest.NewServer(q)
	defer srv.Close()
	dir := t.TempDir()
	out := &testenv.LockedBuffer{}
	cmd := exec.Command(bin, "worker", "--server", srv.URL, "--token", "t", "--recheck", "1s", "--poll", "200ms", "--worker-id", "w1")
	cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+testenv.ORTLibrary(t), "AUTOCV_BACKBONES="+dir,
		"AUTOCV_CACHE_DIR="+t.TempDir(), "AUTOCV_LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()

	const watch = 4500 * time.Millisecond
	select {
	case err := <-exited:
		t.Fatalf("the worker exited without backbones (%v):\n%s", err, out.String())
	case <-time.After(watch):
	}
	reqs := q.requests()
	// One check at start and one per second: 4–6 in 4.5 s on a loaded
	// machine, never the hundreds a tight loop would make.
	if len(reqs) < 3 || len(reqs) > 6 {
		t.Fatalf("%d lease requests in %v with --recheck 1s; want about 5:\n%s", len(reqs), watch, out.String())
	}
	t.Logf("%d lease requests, each reporting %s, in %v", len(reqs), jobs.ProblemNoBackbones, watch)
	for _, r := range reqs {
		if len(r.Problems) != 1 || r.Problems[0].Code != jobs.ProblemNoBackbones || !strings.Contains(r.Problems[0].Detail, dir) {
			t.Fatalf("lease request %+v: want problem %s naming %s", r, jobs.ProblemNoBackbones, dir)
		}
		if r.Version != jobs.Version || r.WorkerID != "w1" {
			t.Fatalf("lease request %+v", r)
		}
	}
	if n := strings.Count(out.String(), "cannot train yet"); n != 1 {
		t.Errorf("logged the problem %d times in %v; want once (at most once a minute):\n%s", n, watch, out.String())
	}

	// The files appear: the worker starts asking for jobs, problem-free.
	for _, f := range backbones.Pinned {
		if err := os.Symlink(filepath.Join(data, f.Name), filepath.Join(dir, f.Name)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		reqs := q.requests()
		if last := reqs[len(reqs)-1]; len(last.Problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no problem-free lease request 90 s after the backbones appeared:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("worker exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("worker still running 20 s after SIGTERM")
	}
	exited <- nil // for the deferred cleanup
}

// TestFetchBackbonesFrom runs the subcommand offline, from a folder.
func TestFetchBackbonesFrom(t *testing.T) {
	bin := trainerBinary(t)
	dest := filepath.Join(t.TempDir(), "bb")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "fetch-backbones", "--dest", dest, "--from", testenv.Data(t, "backbones"))
	b, err := cmd.CombinedOutput()
	if err != nil || !backbones.Complete(dest, backbones.Pinned) || !strings.Contains(string(b), "backbones ready in "+dest) {
		t.Fatalf("fetch-backbones --from: %v\n%s", err, b)
	}
	cmd = exec.CommandContext(ctx, bin, "fetch-backbones", "--dest", dest, "--from", filepath.Join(t.TempDir(), "nothing.zip"))
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "nothing.zip") {
		t.Fatalf("fetch-backbones from a missing archive: %v\n%s", err, b)
	}
}
