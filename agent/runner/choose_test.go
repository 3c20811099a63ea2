package runner

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/inference"
)

// TestChoiceKeptAcrossRestartAndSwap: the execution provider decided at
// start is asked of every Load: the first, after a crash, and on a swap.
func TestChoiceKeptAcrossRestartAndSwap(t *testing.T) {
	ps := &procs{}
	r := New(Config{
		Package: Package{Path: "/pkgs/m1.tar.gz"}, Start: ps.start, ExecutionProvider: inference.ProviderAuto,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		PollInterval: 5 * time.Millisecond, DrainTimeout: 5 * time.Second,
	})
	t.Cleanup(r.Close)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ps.get(0).exited.Store(true) // the process dies
	waitFor(t, "restart", func() bool {
		_, err := r.Status()
		return r.Restarts() == 1 && err == nil
	})
	if err := r.Swap(context.Background(), Package{Path: "/pkgs/m2.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.all) != 3 {
		t.Fatalf("%d processes started, want 3 (start, restart, swap)", len(ps.all))
	}
	for i, p := range ps.all {
		if p.loadProvider != inference.ProviderAuto {
			t.Errorf("load %d asked for provider %q, want %q", i, p.loadProvider, inference.ProviderAuto)
		}
	}
}

func TestAvailable(t *testing.T) {
	for _, tc := range []struct {
		providers, want []string
	}{
		{nil, nil},
		{[]string{"cpu"}, []string{inference.NameONNXCPU}},
		{[]string{"cpu", "cuda"}, []string{inference.NameONNXCPU, inference.NameONNXCUDA}},
	} {
		if got := Available(tc.providers); !slices.Equal(got, tc.want) {
			t.Errorf("Available(%v) = %v, want %v", tc.providers, got, tc.want)
		}
	}
}
