package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/imagerules"
)

// TestSniffCases runs the shared table of magic bytes through the API's
// check, so the agent refuses a file for the same reason as the plugin and
// dataset import.
func TestSniffCases(t *testing.T) {
	for _, tc := range imagerules.SniffCases() {
		t.Run(tc.Name, func(t *testing.T) {
			e := sniffImage(tc.Data, "the request body")
			switch {
			case imagerules.Supported(tc.Format):
				if e != nil {
					t.Errorf("refused: %v", e)
				}
			case len(tc.Data) == 0:
				if e == nil || e.code != CodeEmptyBody {
					t.Errorf("got %+v, want %s", e, CodeEmptyBody)
				}
			case tc.Format != "":
				if e == nil || e.code != CodeUnsupportedImage || e.status != http.StatusUnsupportedMediaType ||
					!strings.Contains(e.msg, imagerules.Label(tc.Format)) {
					t.Errorf("got %+v, want %s naming %s", e, CodeUnsupportedImage, imagerules.Label(tc.Format))
				}
			default:
				if e == nil || e.code != CodeNotAnImage || e.status != http.StatusUnsupportedMediaType {
					t.Errorf("got %+v, want %s", e, CodeNotAnImage)
				}
			}
		})
	}
}

var waitImg = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, "wait"...)

// predictStatus posts body to /v1/predict and returns the status, or -1;
// unlike do it may run outside the test's goroutine.
func (a *testAPI) predictStatus(body []byte) int {
	resp, err := a.Client().Post(a.URL+"/v1/predict", "", bytes.NewReader(body))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// TestBusy: with every slot taken a request waits BusyWait, then gets 503
// busy with Retry-After; GET endpoints still answer; a request that waits
// gets the slot a finishing one gives back.
func TestBusy(t *testing.T) {
	a := newTestAPI(t, Config{MaxConcurrent: 2, BusyWait: 50 * time.Millisecond}, true)
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 2 {
		wg.Go(func() { codes <- a.predictStatus(waitImg) })
	}
	<-a.waiting
	<-a.waiting // both slots taken, inside the plugin

	req, _ := http.NewRequest("POST", a.URL+"/v1/predict", strings.NewReader(string(jpegImg)))
	start := time.Now()
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || time.Since(start) < 50*time.Millisecond {
		t.Errorf("third request: %d, Retry-After %q after %s", resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start))
	}
	body, ctype := form(t, file{"a.jpg", jpegImg})
	var e ErrorResponse
	a.do(t, "POST", "/upload", ctype, body).decode(t, &e)
	if e.Code != CodeBusy || !strings.Contains(e.Error, "max_concurrent") {
		t.Errorf("upload while busy: %+v", e)
	}
	if ans := a.do(t, "GET", "/healthz", "", nil); ans.status != 200 {
		t.Errorf("/healthz while busy: %d %s", ans.status, ans.body)
	}
	if m := string(a.do(t, "GET", "/metrics", "", nil).body); !strings.Contains(m, "autocv_agent_requests_in_flight 2") {
		t.Errorf("metrics while busy:\n%s", m)
	}
	var m ModelResponse
	if a.do(t, "GET", "/v1/model", "", nil).decode(t, &m); m.Limits.MaxConcurrent != 2 {
		t.Errorf("limits = %+v", m.Limits)
	}
	close(a.gate)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a held request answered %d", c)
		}
	}
	if ans := a.do(t, "POST", "/v1/predict", "", jpegImg); ans.status != 200 {
		t.Errorf("after the burst: %d %s", ans.status, ans.body)
	}
}

func TestBusyWaitsForATurn(t *testing.T) {
	a := newTestAPI(t, Config{MaxConcurrent: 1, BusyWait: 10 * time.Second}, true)
	held := make(chan int, 1)
	go func() { held <- a.predictStatus(waitImg) }()
	<-a.waiting
	queued := make(chan int, 1)
	go func() { queued <- a.predictStatus(jpegImg) }()
	select {
	case c := <-queued:
		t.Fatalf("second request answered %d while the only slot was taken", c)
	case <-time.After(50 * time.Millisecond):
	}
	close(a.gate)
	if c1, c2 := <-held, <-queued; c1 != 200 || c2 != 200 {
		t.Errorf("answers %d and %d, want 200 for both", c1, c2)
	}
}

func TestDefaultMaxConcurrent(t *testing.T) {
	s := New(Config{Runner: newTestAPI(t, Config{}, false).run})
	if s.cfg.MaxConcurrent != DefaultMaxConcurrent() || cap(s.slots) != s.cfg.MaxConcurrent || s.cfg.BusyWait != DefaultBusyWait {
		t.Errorf("defaults: %d slots, %d, %s", cap(s.slots), s.cfg.MaxConcurrent, s.cfg.BusyWait)
	}
}
