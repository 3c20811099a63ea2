package runner

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/inference"
)

func TestSwapDrainsOldProcess(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	first := true
	ps := &procs{next: func(p *fakePlugin) {
		if first { // only the first process blocks its requests
			p.block, p.entered = block, entered
			first = false
		}
	}}
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A request is running on the old process when the swap happens.
	inflight := make(chan string, 1)
	go func() {
		pid, err := predictPid(t, r)
		if err != nil {
			pid = err.Error()
		}
		inflight <- pid
	}()
	<-entered
	swapped := make(chan error, 1)
	go func() { swapped <- r.Swap(context.Background(), Package{Path: "/pkgs/m2.tar.gz"}) }()

	waitFor(t, "switch to the new process", func() bool {
		st, err := r.Status()
		return err == nil && st.Pid == 101
	})
	if pid, err := predictPid(t, r); pid != "101" || err != nil {
		t.Errorf("new request served by %s, %v; want pid 101", pid, err)
	}
	if st, _ := r.Status(); st.Model.ID != "m2.tar.gz" {
		t.Errorf("model after swap = %q", st.Model.ID)
	}
	select {
	case err := <-swapped:
		t.Fatalf("Swap returned (%v) before the old process drained", err)
	case <-time.After(20 * time.Millisecond):
	}
	if ps.get(0).killed.Load() {
		t.Fatal("old process killed while a request was running on it")
	}

	close(block)
	if pid := <-inflight; pid != "100" {
		t.Errorf("in-flight request answered %q, want pid 100", pid)
	}
	if err := <-swapped; err != nil {
		t.Fatal(err)
	}
	if !ps.get(0).killed.Load() {
		t.Error("old process not killed after it drained")
	}
}

func TestSwapFailureKeepsServing(t *testing.T) {
	ps := &procs{}
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := r.Swap(context.Background(), Package{Path: "/pkgs/bad.tar.gz"})
	if !errors.Is(err, inference.ErrBadPackage) {
		t.Fatalf("Swap = %v, want ErrBadPackage", err)
	}
	if pid, err := predictPid(t, r); pid != "100" || err != nil {
		t.Errorf("after a failed swap: served by %s, %v; want pid 100", pid, err)
	}
	if ps.get(0).killed.Load() || !ps.get(1).killed.Load() {
		t.Error("failed swap must kill the new process and keep the old one")
	}
}

// TestSwapUnderLoad swaps repeatedly while requests run; none may fail.
func TestSwapUnderLoad(t *testing.T) {
	ps := &procs{}
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := r.Predict(context.Background(), inference.PredictRequest{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 20 {
		if err := r.Swap(context.Background(), Package{Path: "/pkgs/m.tar.gz"}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request failed during swaps: %v", err)
	}
	for i := range 20 {
		if !ps.get(i).killed.Load() {
			t.Errorf("process %d not killed after being swapped out", 100+i)
		}
	}
}

func TestCloseKillsProcess(t *testing.T) {
	ps := &procs{}
	r := newTestRunner(t, ps, "/pkgs/m1.tar.gz")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if !ps.get(0).killed.Load() {
		t.Error("Close did not kill the process")
	}
	if _, err := predictPid(t, r); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Predict after Close = %v, want ErrUnavailable", err)
	}
	if err := r.Swap(context.Background(), Package{Path: "/pkgs/m2.tar.gz"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Swap after Close = %v, want ErrUnavailable", err)
	}
}
