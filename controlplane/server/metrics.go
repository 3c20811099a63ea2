package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// counterVec is a tiny Prometheus counter keyed by label values; the
// control plane's metrics are few, so no client library is pulled in.
type counterVec struct {
	mu sync.Mutex
	m  map[string]float64
}

func (v *counterVec) add(key string, n float64) {
	v.mu.Lock()
	if v.m == nil {
		v.m = map[string]float64{}
	}
	v.m[key] += n
	v.mu.Unlock()
}

func (v *counterVec) inc(route string, status int) {
	if route == "" {
		route = "unmatched"
	}
	v.add(fmt.Sprintf("route=%q,code=\"%d\"", route, status), 1)
}

func (v *counterVec) write(b *strings.Builder, name, help string) {
	v.mu.Lock()
	keys := make([]string, 0, len(v.m))
	for k := range v.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	for _, k := range keys {
		fmt.Fprintf(b, "%s{%s} %g\n", name, k, v.m[k])
	}
	v.mu.Unlock()
}

var (
	httpRequests   counterVec
	importedImages counterVec
	inferCalls     counterVec
	corruptBlobs   counterVec
)

func (s *Server) metrics(c *gin.Context) {
	var b strings.Builder
	httpRequests.write(&b, "autocv_http_requests_total", "HTTP requests by route and status.")
	importedImages.write(&b, "autocv_import_images_total", "Dataset images by import outcome.")
	inferCalls.write(&b, "autocv_infer_calls_total", "Cloud inference calls by service id and outcome.")
	corruptBlobs.write(&b, "autocv_blob_corrupt_total", "Stored blobs found corrupt when read, by where they were read.")
	for _, sv := range s.svcs.snapshot() {
		fmt.Fprintf(&b, "autocv_infer_latency_seconds{service=%q,quantile=\"0.5\"} %g\n", sv.id, sv.p50)
		fmt.Fprintf(&b, "autocv_infer_latency_seconds{service=%q,quantile=\"0.99\"} %g\n", sv.id, sv.p99)
	}
	c.Data(http.StatusOK, "text/plain; version=0.0.4", []byte(b.String()))
}
