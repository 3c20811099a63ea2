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

// Refused counts a call answered with an error before the model ran (bad
// input, an offline service): a call and an error, with no latency to keep.
func (s *Stats) Refused() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.errors++
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

// UsageBucketsMS are the upper bounds (milliseconds) of the latency
// buckets a minute of usage counts calls in; a last bucket takes what is
// slower. Fixed, so the minutes of several replicas add up bucket by
// bucket (the store keeps one column per bucket).
var UsageBucketsMS = [UsageBuckets - 1]float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// UsageBuckets is how many latency buckets a minute has.
const UsageBuckets = 12

// Minute is one service's calls in one minute: counted, failed by class
// (client: 4xx; server: 5xx but 503; busy: 429 and 503) and their
// latencies in UsageBucketsMS buckets.
type Minute struct {
	Calls, Client, Server, Busy int64
	Hist                        [UsageBuckets]int64
}

// Add counts one call that answered status after latency.
func (m *Minute) Add(latency time.Duration, status int) {
	m.Calls++
	switch {
	case status == 429 || status == 503:
		m.Busy++
	case status >= 500:
		m.Server++
	case status >= 400:
		m.Client++
	}
	ms := float64(latency) / float64(time.Millisecond)
	i := 0
	for i < len(UsageBucketsMS) && ms > UsageBucketsMS[i] {
		i++
	}
	m.Hist[i]++
}

// Quantile estimates the q-quantile (0 < q < 1) of a histogram's
// latencies in milliseconds: the bucket holding that rank, linearly
// interpolated within its bounds (the last bucket answers its lower
// bound). 0 when it is empty.
func Quantile(hist [UsageBuckets]int64, q float64) float64 {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen int64
	for i, n := range hist {
		if n == 0 || float64(seen+n) < rank {
			seen += n
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = UsageBucketsMS[i-1]
		}
		if i == len(UsageBucketsMS) {
			return lo
		}
		return lo + (UsageBucketsMS[i]-lo)*(rank-float64(seen))/float64(n)
	}
	return UsageBucketsMS[len(UsageBucketsMS)-1]
}

// Usage gathers per-minute usage of every service until Drain hands it
// on (to be added to the store). The zero value is not ready: use
// NewUsage. Safe for concurrent use.
type Usage struct {
	mu      sync.Mutex
	minutes map[UsageKey]*Minute
}

// UsageKey is a service and the start of a minute (UTC).
type UsageKey struct {
	Service string
	Start   time.Time
}

// NewUsage makes an empty Usage.
func NewUsage() *Usage { return &Usage{minutes: map[UsageKey]*Minute{}} }

// Observe counts one call of service that ended at `at`.
func (u *Usage) Observe(service string, at time.Time, latency time.Duration, status int) {
	k := UsageKey{Service: service, Start: at.UTC().Truncate(time.Minute)}
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.minutes[k]
	if m == nil {
		m = &Minute{}
		u.minutes[k] = m
	}
	m.Add(latency, status)
}

// Drain returns what was gathered and starts afresh.
func (u *Usage) Drain() map[UsageKey]Minute {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[UsageKey]Minute, len(u.minutes))
	for k, m := range u.minutes {
		out[k] = *m
	}
	clear(u.minutes)
	return out
}

// Restore puts back minutes a Drain took that could not be stored, adding
// them to whatever was gathered since.
func (u *Usage) Restore(ms map[UsageKey]Minute) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, add := range ms {
		m := u.minutes[k]
		if m == nil {
			m = &Minute{}
			u.minutes[k] = m
		}
		m.Merge(add)
	}
}

// Merge adds another minute's counts to m.
func (m *Minute) Merge(o Minute) {
	m.Calls += o.Calls
	m.Client += o.Client
	m.Server += o.Server
	m.Busy += o.Busy
	for i := range m.Hist {
		m.Hist[i] += o.Hist[i]
	}
}

// Peek returns one service's minutes gathered and not drained yet.
func (u *Usage) Peek(service string) map[UsageKey]Minute {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[UsageKey]Minute{}
	for k, m := range u.minutes {
		if k.Service == service {
			out[k] = *m
		}
	}
	return out
}

// Forget drops what was gathered for a service (it was deleted).
func (u *Usage) Forget(service string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k := range u.minutes {
		if k.Service == service {
			delete(u.minutes, k)
		}
	}
}
