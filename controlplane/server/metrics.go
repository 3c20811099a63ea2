package server

import (
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The control plane's counters are per process, like the Go runtime and
// process metrics beside them; the latency of the inference services is
// per Server (latencyCollector). They live on registry, not on
// client_golang's global default registry, so nothing a dependency
// registers there leaks into /metrics.
var (
	httpRequests = requestCounter{prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autocv_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"route", "code"})}
	importedImages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autocv_import_images_total", Help: "Dataset images by import outcome.",
	}, []string{"outcome"})
	inferCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autocv_infer_calls_total", Help: "Cloud inference calls by service id and outcome.",
	}, []string{"service", "outcome"})
	corruptBlobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autocv_blob_corrupt_total", Help: "Stored blobs found corrupt when read, by where they were read.",
	}, []string{"where"})

	registry = newRegistry()
)

func newRegistry() *prometheus.Registry {
	// Known label values start at 0, so rate() and increase() see the
	// first one.
	for _, outcome := range []string{"accepted", "skipped"} {
		importedImages.WithLabelValues(outcome)
	}
	for _, where := range []string{"store", "cache"} {
		corruptBlobs.WithLabelValues(where)
	}
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		httpRequests, importedImages, inferCalls, corruptBlobs)
	return r
}

// requestCounter counts HTTP requests by route pattern and status code.
type requestCounter struct{ *prometheus.CounterVec }

func (v requestCounter) inc(route string, status int) {
	if route == "" {
		route = "unmatched"
	}
	v.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

var latencyDesc = prometheus.NewDesc("autocv_infer_latency_seconds",
	"Recent cloud inference latency on this replica, by service id and quantile.", []string{"service", "quantile"}, nil)

// latencyCollector reports the latency of the services s has called,
// read when /metrics is scraped. The quantiles are of a window of recent
// calls, with no running sum, so they are untyped, as they were before
// client_golang: a gauge with a quantile label fails promtool's lint, and
// a summary needs a _sum.
type latencyCollector struct{ s *Server }

func (l latencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- latencyDesc }

func (l latencyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, sv := range l.s.svcs.snapshot() {
		ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.UntypedValue, sv.p50, sv.id, "0.5")
		ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.UntypedValue, sv.p99, sv.id, "0.99")
	}
}

func (s *Server) metrics(c *gin.Context) {
	local := prometheus.NewRegistry()
	local.MustRegister(latencyCollector{s})
	promhttp.HandlerFor(prometheus.Gatherers{registry, local}, promhttp.HandlerOpts{}).ServeHTTP(c.Writer, c.Request)
}
