package httpapi

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

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

// Every agent metric is exported beside the Go runtime and process
// metrics, in an exposition promtool accepts, and two Servers in one
// process count apart.
func TestMetricsExposition(t *testing.T) {
	a := newTestAPI(t, Config{}, true)
	b := newTestAPI(t, Config{}, false)
	if ans := a.do(t, "POST", "/v1/predict", "", jpegImg); ans.status != 200 {
		t.Fatalf("predict: %d %s", ans.status, ans.body)
	}
	for _, tc := range []struct {
		name string
		api  *testAPI
		want []string
	}{
		{"serving", a, []string{
			`autocv_agent_requests_total{code="200"} 1`,
			`autocv_agent_predict_seconds_bucket{le="0.005"} `,
			`autocv_agent_predict_seconds_count 1`,
			`autocv_agent_predict_images_total 1`,
			`autocv_agent_model_info{id="fake-model",version="3"} 1`,
			`autocv_agent_model_up 1`,
		}},
		{"not started", b, []string{
			`autocv_agent_predict_seconds_count 0`,
			`autocv_agent_predict_images_total 0`,
			`autocv_agent_model_up 0`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans := tc.api.do(t, "GET", "/metrics", "", nil)
			got := string(ans.body)
			if ans.status != 200 {
				t.Fatalf("GET /metrics: %d %s", ans.status, got)
			}
			for _, want := range append(tc.want,
				"autocv_agent_requests_reading 0", "autocv_agent_requests_in_flight 0", "autocv_agent_requests_queued 0",
				"autocv_agent_plugin_restarts_total 0",
				"process_resident_memory_bytes ", "go_goroutines ", "go_gc_duration_seconds{") {
				if !strings.Contains(got, want) {
					t.Errorf("/metrics lacks %q:\n%s", want, got)
				}
			}
			promtoolCheck(t, got)
		})
	}
}
