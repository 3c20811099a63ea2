package infer

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestStatsPercentiles(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name    string
		observe []time.Duration
		errs    int // how many of them failed
		want    StatsSnapshot
	}{
		{"empty", nil, 0, StatsSnapshot{}},
		{"one call", []time.Duration{7 * ms}, 1, StatsSnapshot{Calls: 1, Errors: 1, Window: 1, P50: 7 * ms, P90: 7 * ms, P99: 7 * ms}},
		{"1..100 ms, shuffled", shuffled(100, ms), 3, StatsSnapshot{Calls: 100, Errors: 3, Window: 100, P50: 50 * ms, P90: 90 * ms, P99: 99 * ms}},
		{"1..10 ms", shuffled(10, ms), 0, StatsSnapshot{Calls: 10, Window: 10, P50: 5 * ms, P90: 9 * ms, P99: 10 * ms}},
		// the window keeps only the last StatsWindow calls: 1000 slow calls
		// then StatsWindow fast ones leave only fast ones
		{"window slides", append(repeat(1000, time.Second), repeat(StatsWindow, 2*ms)...), 0,
			StatsSnapshot{Calls: 1000 + StatsWindow, Window: StatsWindow, P50: 2 * ms, P90: 2 * ms, P99: 2 * ms}},
		// 20 slow calls (2%) among the last 1024: p99 sees them, p90 does not
		{"tail", append(repeat(StatsWindow-20, ms), repeat(20, time.Second)...), 0,
			StatsSnapshot{Calls: StatsWindow, Window: StatsWindow, P50: ms, P90: ms, P99: time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Stats
			for i, d := range tc.observe {
				var err error
				if i < tc.errs {
					err = errors.New("failed")
				}
				s.Observe(d, err)
			}
			if got := s.Snapshot(); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStatsConcurrent(t *testing.T) {
	var s Stats
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				var err error
				if g == 0 {
					err = errors.New("x")
				}
				s.Observe(time.Duration(i)*time.Microsecond, err)
				if i%100 == 0 {
					s.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	if got := s.Snapshot(); got.Calls != 4000 || got.Errors != 500 || got.Window != StatsWindow {
		t.Fatalf("%+v", got)
	}
}

// shuffled returns 1..n units in a fixed scrambled order.
func shuffled(n int, unit time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration((i*37)%n+1) * unit // 37 is prime to 10 and 100
	}
	return out
}

func repeat(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
