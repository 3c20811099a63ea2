package httpapi

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// predictBuckets are the upper bounds (seconds) of the predict histogram.
var predictBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics are the agent's Prometheus metrics, on a registry of their own
// (not client_golang's global one) beside the Go runtime and process
// metrics; what the Server knows right now (queues, plugin, model) is read
// when /metrics is scraped (stateCollector).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec // by HTTP status
	predict  prometheus.Histogram
	images   prometheus.Counter

	mu sync.Mutex
	// handleEWMA is a moving average of the time one admitted request
	// holds a worker, in seconds; it sizes Retry-After.
	handleEWMA float64
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "autocv_agent_requests_total", Help: "HTTP requests answered, by status code.",
		}, []string{"code"}),
		predict: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "autocv_agent_predict_seconds", Help: "Time of one prediction call to the inference plugin.",
			Buckets: predictBuckets,
		}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "autocv_agent_predict_images_total", Help: "Images sent to the inference plugin.",
		}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.predict, m.images)
	return m
}

func (m *metrics) request(status int) {
	m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
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
	m.predict.Observe(d.Seconds())
	m.images.Add(float64(n))
}

func (s *Server) serveMetrics(c *gin.Context) {
	state := prometheus.NewRegistry()
	state.MustRegister(stateCollector{s})
	promhttp.HandlerFor(prometheus.Gatherers{s.metrics.reg, state}, promhttp.HandlerOpts{}).ServeHTTP(c.Writer, c.Request)
}

var (
	readingDesc = prometheus.NewDesc("autocv_agent_requests_reading",
		"Predict and upload requests whose bodies are being read; at most max_reading.", nil, nil)
	inFlightDesc = prometheus.NewDesc("autocv_agent_requests_in_flight",
		"Predict and upload requests being handled; at most max_concurrent.", nil, nil)
	queuedDesc = prometheus.NewDesc("autocv_agent_requests_queued",
		"Predict and upload requests waiting for a turn; at most max_queue.", nil, nil)
	restartsDesc = prometheus.NewDesc("autocv_agent_plugin_restarts_total",
		"Inference plugin processes restarted after they died.", nil, nil)
	modelInfoDesc = prometheus.NewDesc("autocv_agent_model_info",
		"The model being served (1), by id and version.", []string{"id", "version"}, nil)
	modelUpDesc = prometheus.NewDesc("autocv_agent_model_up",
		"Whether a model is being served right now.", nil, nil)
)

// stateCollector reports a Server's admission queues, plugin restarts and
// model as they are at the scrape.
type stateCollector struct{ s *Server }

func (sc stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readingDesc, inFlightDesc, queuedDesc, restartsDesc, modelInfoDesc, modelUpDesc} {
		ch <- d
	}
}

func (sc stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := sc.s
	ch <- prometheus.MustNewConstMetric(readingDesc, prometheus.GaugeValue, float64(len(s.reading)))
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(len(s.slots)))
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(len(s.queue)))
	ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(s.run.Restarts()))
	up := 0.0
	if st, err := s.run.Status(); err == nil {
		up = 1
		// Label values must be UTF-8; a manifest's id is not checked for it.
		id := strings.ToValidUTF8(st.Model.ID, "\uFFFD")
		ch <- prometheus.MustNewConstMetric(modelInfoDesc, prometheus.GaugeValue, 1, id, strconv.Itoa(st.Model.Version))
	}
	ch <- prometheus.MustNewConstMetric(modelUpDesc, prometheus.GaugeValue, up)
}
