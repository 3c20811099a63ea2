package reconcile

import (
	"net/http"
	"slices"
	"sync"
	"time"
)

// latencyWindow is how many recent prediction latencies the percentiles
// are computed over.
const latencyWindow = 1024

// Meter counts the HTTP API's prediction requests (POST /v1/predict and
// POST /upload) for telemetry: how many, how many failed on the agent's
// side (5xx), and the latency percentiles of recent ones.
type Meter struct {
	mu       sync.Mutex
	requests int64
	errors   int64
	lat      []float64 // ring of the last latencyWindow latencies, ms
	next     int
}

// MeterSnapshot is what a Meter has counted.
type MeterSnapshot struct {
	Requests, Errors int64
	P50Ms, P99Ms     float64
}

// Wrap returns h counting its prediction requests.
func (m *Meter) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || (r.URL.Path != "/v1/predict" && r.URL.Path != "/upload") {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.observe(sw.status, time.Since(start))
	})
}

func (m *Meter) observe(status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	if status >= 500 {
		m.errors++
	}
	ms := float64(d.Microseconds()) / 1000
	if len(m.lat) < latencyWindow {
		m.lat = append(m.lat, ms)
		return
	}
	m.lat[m.next] = ms
	m.next = (m.next + 1) % latencyWindow
}

// Snapshot returns the counts so far and the recent percentiles.
func (m *Meter) Snapshot() MeterSnapshot {
	m.mu.Lock()
	s := MeterSnapshot{Requests: m.requests, Errors: m.errors}
	lat := slices.Clone(m.lat)
	m.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		s.P50Ms = lat[(len(lat)-1)*50/100]
		s.P99Ms = lat[(len(lat)-1)*99/100]
	}
	return s
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
