package httpapi

import (
	"bytes"
	"errors"
	"fmt"
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
				if e == nil || e.Code != CodeEmptyBody {
					t.Errorf("got %+v, want %s", e, CodeEmptyBody)
				}
			case tc.Format != "":
				if e == nil || e.Code != CodeUnsupportedFormat || e.Status() != http.StatusUnsupportedMediaType ||
					!strings.Contains(e.Message, imagerules.Label(tc.Format)) {
					t.Errorf("got %+v, want %s naming %s", e, CodeUnsupportedFormat, imagerules.Label(tc.Format))
				}
			default:
				if e == nil || e.Code != CodeNotAnImage || e.Status() != http.StatusUnsupportedMediaType {
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

// TestQueue: with every worker busy a request waits in the queue; with
// the queue full too, the next is turned away at once with 429 busy and
// Retry-After; GET endpoints still answer; the queued one is served when
// a worker frees.
func TestQueue(t *testing.T) {
	a := newTestAPI(t, Config{MaxConcurrent: 2, MaxQueue: 1}, true)
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 2 {
		wg.Go(func() { codes <- a.predictStatus(waitImg) })
	}
	<-a.waiting
	<-a.waiting // both workers taken, inside the plugin
	wg.Go(func() { codes <- a.predictStatus(jpegImg) })
	waitUntil(t, "a request in the queue", func() bool { return len(a.srv.queue) == 1 })

	start := time.Now()
	resp, err := a.Client().Post(a.URL+"/v1/predict", "", bytes.NewReader(jpegImg))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || time.Since(start) > 2*time.Second {
		t.Errorf("request with the queue full: %d, Retry-After %q after %s", resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start))
	}
	body, ctype := form(t, file{"a.jpg", jpegImg})
	var e ErrorResponse
	ans := a.do(t, "POST", "/upload", ctype, body)
	ans.decode(t, &e)
	if ans.status != 429 || e.Code != CodeBusy || !strings.Contains(e.Message, "max_queue") {
		t.Errorf("upload with the queue full: %d %+v", ans.status, e)
	}
	if ans := a.do(t, "GET", "/healthz", "", nil); ans.status != 200 {
		t.Errorf("/healthz while busy: %d %s", ans.status, ans.body)
	}
	m := string(a.do(t, "GET", "/metrics", "", nil).body)
	for _, want := range []string{"autocv_agent_requests_in_flight 2", "autocv_agent_requests_queued 1", `autocv_agent_requests_total{code="429"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics while busy lack %q:\n%s", want, m)
		}
	}
	var mr ModelResponse
	if a.do(t, "GET", "/v1/model", "", nil).decode(t, &mr); mr.Limits.MaxConcurrent != 2 || mr.Limits.MaxQueue != 1 {
		t.Errorf("limits = %+v", mr.Limits)
	}
	close(a.gate)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a held or queued request answered %d", c)
		}
	}
	if ans := a.do(t, "POST", "/v1/predict", "", jpegImg); ans.status != 200 {
		t.Errorf("after the burst: %d %s", ans.status, ans.body)
	}
}

// TestQueueOrder: queued requests get their turn in arrival order.
func TestQueueOrder(t *testing.T) {
	a := newTestAPI(t, Config{MaxConcurrent: 1, MaxQueue: 8}, true)
	a.srv.slots <- struct{}{} // the only worker is busy
	var wg sync.WaitGroup
	for i := range 5 {
		img := append(bytes.Clone(jpegImg), fmt.Sprintf("seq:%d", i)...)
		wg.Go(func() {
			if c := a.predictStatus(img); c != 200 {
				t.Errorf("request %d: %d", i, c)
			}
		})
		waitUntil(t, "the request in the queue", func() bool { return len(a.srv.queue) == i+1 })
	}
	<-a.srv.slots
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	if got := strings.Join(a.seen, " "); got != "0 1 2 3 4" {
		t.Errorf("served in the order %s, want 0 1 2 3 4", got)
	}
}

func TestNoQueue(t *testing.T) {
	a := newTestAPI(t, Config{MaxConcurrent: 1, MaxQueue: -1}, true)
	a.srv.slots <- struct{}{}
	defer func() { <-a.srv.slots }()
	if c := a.predictStatus(jpegImg); c != 429 {
		t.Errorf("with max_queue 0 and the worker busy: %d, want 429", c)
	}
}

// TestRequestTimeout: request_timeout bounds the wait in the queue, the
// plugin call and a body that arrives too slowly, each answered 504.
func TestRequestTimeout(t *testing.T) {
	t.Run("in the plugin", func(t *testing.T) {
		a := newTestAPI(t, Config{RequestTimeout: 100 * time.Millisecond}, true)
		var e ErrorResponse
		ans := a.do(t, "POST", "/v1/predict", "", waitImg)
		ans.decode(t, &e)
		if ans.status != 504 || e.Code != CodeTimeout {
			t.Errorf("%d %s", ans.status, ans.body)
		}
	})
	t.Run("in the queue", func(t *testing.T) {
		a := newTestAPI(t, Config{MaxConcurrent: 1, MaxQueue: 1, RequestTimeout: 100 * time.Millisecond}, true)
		a.srv.slots <- struct{}{}
		defer func() { <-a.srv.slots }()
		start := time.Now()
		var e ErrorResponse
		ans := a.do(t, "POST", "/v1/predict", "", jpegImg)
		ans.decode(t, &e)
		if ans.status != 504 || e.Code != CodeTimeout || !strings.Contains(e.Message, "waited") || time.Since(start) < 100*time.Millisecond {
			t.Errorf("%d %s after %s", ans.status, ans.body, time.Since(start))
		}
		if len(a.srv.queue) != 0 {
			t.Errorf("%d left in the queue", len(a.srv.queue))
		}
	})
	t.Run("slow body", func(t *testing.T) {
		a := newTestAPI(t, Config{RequestTimeout: 100 * time.Millisecond}, true)
		pr, pw := io.Pipe()
		defer pw.Close()
		go pw.Write(jpegImg) // then nothing more
		req, _ := http.NewRequest("POST", a.URL+"/v1/predict", pr)
		req.ContentLength = 1000
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 504 || !strings.Contains(string(b), "did not arrive") {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})
}

func TestAPIKey(t *testing.T) {
	const key = "s3cret-key-for-tests"
	a := newTestAPI(t, Config{APIKey: key}, true)
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		status             int
	}{
		{"predict without", "POST", "/v1/predict", nil, 401},
		{"predict wrong", "POST", "/v1/predict", map[string]string{"Authorization": "Bearer nope-nope-nope"}, 401},
		{"predict basic auth", "POST", "/v1/predict", map[string]string{"Authorization": "Basic " + key}, 401},
		{"predict bearer", "POST", "/v1/predict", map[string]string{"Authorization": "Bearer " + key}, 200},
		{"predict bearer lower case", "POST", "/v1/predict", map[string]string{"Authorization": "bearer " + key}, 200},
		{"predict x-api-key", "POST", "/v1/predict", map[string]string{"X-API-Key": key}, 200},
		{"model without", "GET", "/v1/model", nil, 401},
		{"model with", "GET", "/v1/model", map[string]string{"X-API-Key": key}, 200},
		{"metrics without", "GET", "/metrics", nil, 401},
		{"upload without", "POST", "/upload", nil, 401},
		{"page", "GET", "/upload", nil, 200},
		{"healthz", "GET", "/healthz", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, a.URL+tc.path, bytes.NewReader(jpegImg))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := a.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status == 401 {
				var e ErrorResponse
				answer{resp.StatusCode, b}.decode(t, &e)
				if e.Code != CodeUnauthorized || !strings.Contains(e.Message, "api_key") ||
					resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 answer: %+v %q", e, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s := New(Config{Runner: newTestAPI(t, Config{}, false).run})
	if s.cfg.MaxConcurrent != DefaultMaxConcurrent() || cap(s.slots) != s.cfg.MaxConcurrent || cap(s.queue) != DefaultMaxQueue ||
		s.cfg.RequestTimeout != DefaultRequestTimeout {
		t.Errorf("defaults: %d slots, %d queue, %s", cap(s.slots), cap(s.queue), s.cfg.RequestTimeout)
	}
}

// waitUntil polls cond for up to 5s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stalledBody starts a predict whose body stops after its first bytes; it
// answers on the returned channel. The body ends when the test does.
func (a *testAPI) stalledBody(t *testing.T) <-chan answer {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	go pw.Write(jpegImg) // then nothing more
	req, _ := http.NewRequest("POST", a.URL+"/v1/predict", pr)
	req.ContentLength = 1000
	got := make(chan answer, 1)
	go func() {
		resp, err := a.Client().Do(req)
		if err != nil {
			got <- answer{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, b}
	}()
	return got
}

// TestBodyRate: once body_grace has passed a body must arrive at
// min_body_rate: one a little faster passes though it takes longer than
// the grace; one that stalls is cut off with 504 timeout soon after the
// grace, without having held a worker.
func TestBodyRate(t *testing.T) {
	a := newTestAPI(t, Config{MinBodyRate: 1000, BodyGrace: 200 * time.Millisecond}, true)
	t.Run("steady", func(t *testing.T) {
		img := append(bytes.Clone(jpegImg), make([]byte, 1000-len(jpegImg))...)
		pr, pw := io.Pipe()
		go func() { // 2000 bytes/s for 500ms
			for i := 0; i < len(img); i += 100 {
				time.Sleep(50 * time.Millisecond)
				pw.Write(img[i : i+100])
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", a.URL+"/v1/predict", pr)
		req.ContentLength = int64(len(img))
		start := time.Now()
		resp, err := a.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || time.Since(start) < 400*time.Millisecond {
			t.Errorf("%d %s after %s", resp.StatusCode, b, time.Since(start))
		}
	})
	t.Run("stalls", func(t *testing.T) {
		start := time.Now()
		got := a.stalledBody(t)
		waitUntil(t, "the body being read", func() bool { return len(a.srv.reading) == 1 })
		if n := len(a.srv.slots); n != 0 {
			t.Errorf("%d workers busy while the body is read", n)
		}
		ans := <-got
		var e ErrorResponse
		ans.decode(t, &e)
		if ans.status != 504 || e.Code != CodeTimeout || !strings.Contains(e.Message, "too slowly") ||
			!strings.Contains(e.Message, "1000 bytes/s") || time.Since(start) > time.Second {
			t.Errorf("%d %s after %s", ans.status, ans.body, time.Since(start))
		}
		if len(a.srv.reading) != 0 {
			t.Errorf("%d bodies still being read", len(a.srv.reading))
		}
	})
}

// TestReadingLimit: with max_reading bodies being read, the next request
// is turned away at once with 429 busy and Retry-After; the workers
// stay free.
func TestReadingLimit(t *testing.T) {
	a := newTestAPI(t, Config{MaxReading: 2, BodyGrace: 2 * time.Second}, true)
	var held []<-chan answer
	for range 2 {
		held = append(held, a.stalledBody(t))
	}
	waitUntil(t, "two bodies being read", func() bool { return len(a.srv.reading) == 2 })
	start := time.Now()
	resp, err := a.Client().Post(a.URL+"/v1/predict", "", bytes.NewReader(jpegImg))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e ErrorResponse
	answer{resp.StatusCode, b}.decode(t, &e)
	if resp.StatusCode != 429 || e.Code != CodeBusy || !strings.Contains(e.Message, "sending their bodies") ||
		resp.Header.Get("Retry-After") != "2" || time.Since(start) > time.Second {
		t.Errorf("%d %s, Retry-After %q, after %s", resp.StatusCode, b, resp.Header.Get("Retry-After"), time.Since(start))
	}
	m := string(a.do(t, "GET", "/metrics", "", nil).body)
	for _, want := range []string{"autocv_agent_requests_reading 2", "autocv_agent_requests_in_flight 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	for _, got := range held {
		if ans := <-got; ans.status != 504 {
			t.Errorf("stalled body: %d %s", ans.status, ans.body)
		}
	}
	if ans := a.do(t, "POST", "/v1/predict", "", jpegImg); ans.status != 200 {
		t.Errorf("after the stalled bodies: %d %s", ans.status, ans.body)
	}
}

// TestBodyBytesLimit: the bodies an agent holds (read, being read or
// waiting for the plugin) are bounded in bytes, from their declared
// length: past MaxBodyBytes the answer is 429 busy at once.
func TestBodyBytesLimit(t *testing.T) {
	a := newTestAPI(t, Config{MaxBodyBytes: int64(1000 + len(jpegImg) - 1), BodyGrace: 2 * time.Second}, true)
	held := a.stalledBody(t) // declares 1000 bytes
	waitUntil(t, "one body being read", func() bool { return len(a.srv.reading) == 1 })
	resp, err := a.Client().Post(a.URL+"/v1/predict", "", bytes.NewReader(jpegImg))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || !strings.Contains(string(b), "busy") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the body budget: %d %s, Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	if ans := <-held; ans.status != 504 {
		t.Errorf("stalled body: %d %s", ans.status, ans.body)
	}
	if ans := a.do(t, "POST", "/v1/predict", "", jpegImg); ans.status != 200 {
		t.Errorf("after the stalled body: %d %s", ans.status, ans.body)
	}
}
