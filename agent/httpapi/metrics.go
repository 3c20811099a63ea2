package httpapi

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// predictBuckets are the upper bounds (seconds) of the predict histogram.
var predictBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics are the agent's Prometheus metrics, written by hand in the text
// exposition format.
type metrics struct {
	mu       sync.Mutex
	requests map[int]uint64 // by HTTP status
	buckets  []uint64       // predict histogram, cumulative on output
	count    uint64
	sum      float64
	images   uint64
	// handleEWMA is a moving average of the time one admitted request
	// holds a worker, in seconds; it sizes Retry-After.
	handleEWMA float64
}

func newMetrics() *metrics {
	return &metrics{requests: map[int]uint64{}, buckets: make([]uint64, len(predictBuckets))}
}

func (m *metrics) request(status int) {
	m.mu.Lock()
	m.requests[status]++
	m.mu.Unlock()
}

// handled records the time an admitted request held a worker.
func (m *metrics) handled(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.handleEWMA == 0 {
		m.handleEWMA = d.Seconds()
		return
	}
	m.handleEWMA += 0.1 * (d.Seconds() - m.handleEWMA)
}

// handleTime is the recent average time a request holds a worker.
func (m *metrics) handleTime() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Duration(m.handleEWMA * float64(time.Second))
}

// predicted records one call to the plugin with n images.
func (m *metrics) predicted(d time.Duration, n int) {
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, b := range predictBuckets {
		if sec <= b {
			m.buckets[i]++
			break
		}
	}
	m.count++
	m.sum += sec
	m.images += uint64(n)
}

func (s *Server) serveMetrics(c *gin.Context) {
	c.Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	c.Status(200)
	s.writeMetrics(c.Writer)
}

func (s *Server) writeMetrics(w io.Writer) {
	m := s.metrics
	m.mu.Lock()
	codes := make([]int, 0, len(m.requests))
	for code := range m.requests {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var b strings.Builder
	b.WriteString("# HELP autocv_agent_requests_total HTTP requests answered, by status code.\n")
	b.WriteString("# TYPE autocv_agent_requests_total counter\n")
	for _, code := range codes {
		fmt.Fprintf(&b, "autocv_agent_requests_total{code=\"%d\"} %d\n", code, m.requests[code])
	}
	b.WriteString("# HELP autocv_agent_predict_seconds Time of one prediction call to the inference plugin.\n")
	b.WriteString("# TYPE autocv_agent_predict_seconds histogram\n")
	var cum uint64
	for i, le := range predictBuckets {
		cum += m.buckets[i]
		fmt.Fprintf(&b, "autocv_agent_predict_seconds_bucket{le=\"%s\"} %d\n", strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	fmt.Fprintf(&b, "autocv_agent_predict_seconds_bucket{le=\"+Inf\"} %d\n", m.count)
	fmt.Fprintf(&b, "autocv_agent_predict_seconds_sum %s\n", strconv.FormatFloat(m.sum, 'g', -1, 64))
	fmt.Fprintf(&b, "autocv_agent_predict_seconds_count %d\n", m.count)
	b.WriteString("# HELP autocv_agent_predict_images_total Images sent to the inference plugin.\n")
	b.WriteString("# TYPE autocv_agent_predict_images_total counter\n")
	fmt.Fprintf(&b, "autocv_agent_predict_images_total %d\n", m.images)
	m.mu.Unlock()

	b.WriteString("# HELP autocv_agent_requests_reading Predict and upload requests whose bodies are being read; at most max_reading.\n")
	b.WriteString("# TYPE autocv_agent_requests_reading gauge\n")
	fmt.Fprintf(&b, "autocv_agent_requests_reading %d\n", len(s.reading))
	b.WriteString("# HELP autocv_agent_requests_in_flight Predict and upload requests being handled; at most max_concurrent.\n")
	b.WriteString("# TYPE autocv_agent_requests_in_flight gauge\n")
	fmt.Fprintf(&b, "autocv_agent_requests_in_flight %d\n", len(s.slots))
	b.WriteString("# HELP autocv_agent_requests_queued Predict and upload requests waiting for a turn; at most max_queue.\n")
	b.WriteString("# TYPE autocv_agent_requests_queued gauge\n")
	fmt.Fprintf(&b, "autocv_agent_requests_queued %d\n", len(s.queue))
	b.WriteString("# HELP autocv_agent_plugin_restarts_total Inference plugin processes restarted after they died.\n")
	b.WriteString("# TYPE autocv_agent_plugin_restarts_total counter\n")
	fmt.Fprintf(&b, "autocv_agent_plugin_restarts_total %d\n", s.run.Restarts())
	b.WriteString("# HELP autocv_agent_model_info The model being served (1), by id and version.\n")
	b.WriteString("# TYPE autocv_agent_model_info gauge\n")
	up := 0
	if st, err := s.run.Status(); err == nil {
		up = 1
		fmt.Fprintf(&b, "autocv_agent_model_info{id=\"%s\",version=\"%d\"} 1\n", escapeLabel(st.Model.ID), st.Model.Version)
	}
	b.WriteString("# HELP autocv_agent_model_up Whether a model is being served right now.\n")
	b.WriteString("# TYPE autocv_agent_model_up gauge\n")
	fmt.Fprintf(&b, "autocv_agent_model_up %d\n", up)
	_, _ = io.WriteString(w, b.String())
}

// escapeLabel escapes a Prometheus label value.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
