package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// scrape answers GET /metrics from h.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	return w.Body.String()
}

// promtoolCheck runs `promtool check metrics` (the exposition's syntax
// and Prometheus' naming lint) on exposition. Without promtool the check
// is skipped, except in CI.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus); CI must check the exposition")
		}
		t.Log("promtool is not installed; skipping promtool check metrics")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, exposition)
	}
}

// /metrics carries the request, import, inference and blob counters, the
// latency of this Server's services (not another's), and the Go runtime
// and process metrics, in an exposition promtool accepts.
func TestMetrics(t *testing.T) {
	env := fuzzSetup(t)
	h := env.srv.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	inferCalls.WithLabelValues("svc-metrics-test", "ok").Inc()

	// A second Server in the process, with a service it has called.
	other := &Server{}
	other.svcs = newServices(other)
	other.svcs.statsFor("svc-other").Observe(20*time.Millisecond, nil)

	got := scrape(t, h)
	for _, want := range []string{
		`autocv_http_requests_total{code="200",route="/healthz"} `,
		`autocv_import_images_total{outcome="accepted"} `,
		`autocv_import_images_total{outcome="skipped"} `,
		`autocv_infer_calls_total{outcome="ok",service="svc-metrics-test"} `,
		`autocv_blob_corrupt_total{where="store"} `,
		`autocv_blob_corrupt_total{where="cache"} `,
		"process_resident_memory_bytes ", "go_goroutines ", "go_gc_duration_seconds{",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "svc-other") {
		t.Errorf("/metrics has another Server's service latency:\n%s", got)
	}
	promtoolCheck(t, got)

	got = scrape(t, bareServer(t, other))
	for _, want := range []string{
		`autocv_infer_latency_seconds{quantile="0.5",service="svc-other"} 0.02`,
		`autocv_infer_latency_seconds{quantile="0.99",service="svc-other"} 0.02`,
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, got)
		}
	}
	promtoolCheck(t, got)
}

// A request no route matched is counted as route="unmatched".
func TestRequestCounterUnmatched(t *testing.T) {
	httpRequests.inc("", http.StatusNotFound)
	if got := scrape(t, bareServer(t, &Server{})); !strings.Contains(got, `autocv_http_requests_total{code="404",route="unmatched"} `) {
		t.Errorf("/metrics lacks the unmatched request:\n%s", got)
	}
}

// bareServer is s's /metrics alone, on an engine without middleware.
func bareServer(t *testing.T, s *Server) http.Handler {
	t.Helper()
	gin.SetMode(gin.TestMode)
	if s.svcs == nil {
		s.svcs = newServices(s)
	}
	e := gin.New()
	e.GET("/metrics", s.metrics)
	return e
}
