package infer

import (
	"slices"
	"sync"
	"time"
)

// StatsWindow is how many recent calls Stats keeps latencies for.
const StatsWindow = 1024

// Stats counts a cloud service's calls and keeps the latencies of the last
// StatsWindow calls (failed ones included) in a ring, so percentiles follow
// recent traffic at fixed memory. The zero value is ready; it is safe for
// concurrent use.
type Stats struct {
	mu     sync.Mutex
	calls  int64
	errors int64
	ring   [StatsWindow]time.Duration
	next   int // ring slot for the next latency
	filled int // slots holding a latency
}

// StatsSnapshot is Stats at one moment. Percentiles are nearest-rank over
// the window (0 before any call).
type StatsSnapshot struct {
	Calls, Errors int64 // since the Stats was created
	Window        int   // calls the percentiles are computed from
	P50, P90, P99 time.Duration
}

// Observe records one call: its latency and whether it failed.
func (s *Stats) Observe(latency time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if err != nil {
		s.errors++
	}
	s.ring[s.next] = latency
	s.next = (s.next + 1) % StatsWindow
	s.filled = min(s.filled+1, StatsWindow)
}

// Snapshot returns the counters and the window's percentiles.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	window := slices.Clone(s.ring[:s.filled])
	snap := StatsSnapshot{Calls: s.calls, Errors: s.errors, Window: s.filled}
	s.mu.Unlock()
	slices.Sort(window)
	snap.P50 = percentile(window, 50)
	snap.P90 = percentile(window, 90)
	snap.P99 = percentile(window, 99)
	return snap
}

// percentile is the nearest-rank percentile of sorted: the smallest value
// with at least pct% of the values at or below it.
func percentile(sorted []time.Duration, pct int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (pct*n + 99) / 100 // ceil(pct/100 * n), 1-based
	return sorted[max(rank, 1)-1]
}
