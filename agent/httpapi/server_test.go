package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

// Image stand-ins: the fake plugin does not decode, so only the magic
// bytes the API sniffs matter.
var (
	jpegImg    = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, "photo"...)
	pngImg     = append([]byte("\x89PNG\r\n\x1a\n"), "photo"...)
	bmpImg     = append([]byte("BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00"), make([]byte, 24)...)
	corruptImg = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, "corrupt"...)
	crashImg   = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, "crash"...)
	gifImg     = []byte("GIF89a\x01\x00\x01\x00")
	textBody   = []byte("hello, this is not a photo")
)

type answer struct {
	status int
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
}

func (a *testAPI) do(t *testing.T, method, path, ctype string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}
}

type file struct {
	name string
	data []byte
}

func form(t *testing.T, files ...file) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range files {
		fw, err := w.CreateFormFile("file", f.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func TestPredict(t *testing.T) {
	a := newTestAPI(t, Config{MaxImageBytes: 1024}, true)
	for _, tc := range []struct {
		name   string
		query  string
		ctype  string
		body   []byte
		status int
		code   api.Code // error code, or "" for success
		labels int      // predictions on success
	}{
		{name: "jpeg", body: jpegImg, status: 200, labels: 3}, // default 5, at most the 3 labels
		{name: "png with wrong content type", ctype: "text/plain", body: pngImg, status: 200, labels: 3},
		{name: "bmp", body: bmpImg, status: 200, labels: 3},
		{name: "top_k 1", query: "?top_k=1", body: jpegImg, status: 200, labels: 1},
		{name: "top_k 3", query: "?top_k=3", body: jpegImg, status: 200, labels: 3},
		{name: "top_k 0", query: "?top_k=0", body: jpegImg, status: 400, code: CodeBadTopK},
		{name: "top_k over labels is clamped", query: "?top_k=4", body: jpegImg, status: 200, labels: 3},
		{name: "top_k as the upload page sends it", query: "?top_k=5", body: jpegImg, status: 200, labels: 3},
		{name: "top_k not a number", query: "?top_k=five", body: jpegImg, status: 400, code: CodeBadTopK},
		{name: "threshold out of range", query: "?threshold=2", body: jpegImg, status: 400, code: CodeBadThreshold},
		{name: "threshold not a number", query: "?threshold=high", body: jpegImg, status: 400, code: CodeBadThreshold},
		{name: "empty", body: nil, status: 400, code: CodeEmptyBody},
		{name: "text", body: textBody, status: 415, code: CodeNotAnImage},
		{name: "gif", ctype: "image/jpeg", body: gifImg, status: 415, code: CodeUnsupportedFormat},
		{name: "too large", body: append(jpegImg, make([]byte, 2000)...), status: 413, code: CodeTooLarge},
		{name: "undecodable", body: corruptImg, status: 422, code: CodeCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans := a.do(t, "POST", "/v1/predict"+tc.query, tc.ctype, tc.body)
			if ans.status != tc.status {
				t.Fatalf("status %d, want %d: %s", ans.status, tc.status, ans.body)
			}
			if tc.code != "" {
				var e ErrorResponse
				ans.decode(t, &e)
				if e.Code != tc.code || e.Message == "" {
					t.Errorf("error = %+v, want code %s", e, tc.code)
				}
				return
			}
			var p PredictResponse
			ans.decode(t, &p)
			if p.Model != (ModelRef{ID: "fake-model", Version: 3}) || len(p.Predictions) != tc.labels || p.Predictions[0].Label != "ant" {
				t.Errorf("answer = %s", ans.body)
			}
			checkThresholds(t, p.Predictions)
		})
	}
}

func TestUpload(t *testing.T) {
	a := newTestAPI(t, Config{MaxImageBytes: 1024, MaxFiles: 3, MaxUploadBytes: 8 << 10}, true)
	big := append(jpegImg, make([]byte, 2000)...)

	t.Run("several files in order", func(t *testing.T) {
		// refused before the plugin first, so the plugin's answers must be
		// mapped back to their files, not taken in order
		body, ctype := form(t, file{"c.gif", gifImg}, file{"b.jpg", corruptImg}, file{"a.jpg", jpegImg})
		ans := a.do(t, "POST", "/upload?top_k=2", ctype, body)
		var got UploadResponse
		ans.decode(t, &got)
		if ans.status != 200 || len(got.Results) != 3 {
			t.Fatalf("%d %s", ans.status, ans.body)
		}
		want := []struct {
			file string
			code api.Code
		}{{"c.gif", CodeUnsupportedFormat}, {"b.jpg", CodeCorrupt}, {"a.jpg", ""}}
		for i, w := range want {
			r := got.Results[i]
			if r.File != w.file || r.Code != w.code || (w.code == "") != (len(r.Predictions) == 2) || (w.code != "") != (r.Error != "") {
				t.Errorf("result %d = %+v, want file %s code %q", i, r, w.file, w.code)
			}
		}
		if got.Model.ID != "fake-model" {
			t.Errorf("model = %+v", got.Model)
		}
		if !bytes.Contains(ans.body, []byte(`"predictions":[]`)) {
			t.Errorf("failed files should carry an empty predictions list: %s", ans.body)
		}
	})

	t.Run("one file answers like predict", func(t *testing.T) {
		body, ctype := form(t, file{"a.png", pngImg})
		ans := a.do(t, "POST", "/upload", ctype, body)
		var got PredictResponse
		ans.decode(t, &got)
		if ans.status != 200 || len(got.Predictions) != 3 || got.Model.Version != 3 {
			t.Errorf("%d %s", ans.status, ans.body)
		}
	})

	for _, tc := range []struct {
		name   string
		files  []file
		ctype  string // overrides the multipart type
		status int
		code   api.Code
	}{
		{name: "one gif", files: []file{{"x.gif", gifImg}}, status: 415, code: CodeUnsupportedFormat},
		{name: "one undecodable", files: []file{{"x.jpg", corruptImg}}, status: 422, code: CodeCorrupt},
		{name: "one too large", files: []file{{"x.jpg", big}}, status: 413, code: CodeTooLarge},
		{name: "one empty", files: []file{{"x.jpg", nil}}, status: 400, code: CodeEmptyBody},
		{name: "too many files", files: []file{{"1.jpg", jpegImg}, {"2.jpg", jpegImg}, {"3.jpg", jpegImg}, {"4.jpg", jpegImg}},
			status: 400, code: CodeTooManyFiles},
		{name: "no files", status: 400, code: CodeNoFiles},
		{name: "not multipart", files: []file{{"x.jpg", jpegImg}}, ctype: "image/jpeg", status: 400, code: CodeBadForm},
		{name: "upload too large", files: []file{{"1.jpg", make([]byte, 5000)}, {"2.jpg", make([]byte, 5000)}},
			status: 413, code: CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := form(t, tc.files...)
			if tc.ctype != "" {
				ctype = tc.ctype
			}
			ans := a.do(t, "POST", "/upload", ctype, body)
			var e ErrorResponse
			ans.decode(t, &e)
			if ans.status != tc.status || e.Code != tc.code {
				t.Errorf("%d %s, want %d %s", ans.status, ans.body, tc.status, tc.code)
			}
		})
	}
}

// checkThresholds checks the fake package's thresholds were applied: ant
// 0.7 < its own 0.8, bee 0.2 >= the global 0.15, daisy 0.1 < 0.15.
func checkThresholds(t *testing.T, preds []Label) {
	t.Helper()
	want := map[string]Label{
		"ant":   {Label: "ant", Confidence: 0.7, Threshold: 0.8, AboveThreshold: false},
		"bee":   {Label: "bee", Confidence: 0.2, Threshold: 0.15, AboveThreshold: true},
		"daisy": {Label: "daisy", Confidence: 0.1, Threshold: 0.15, AboveThreshold: false},
	}
	for _, p := range preds {
		if p != want[p.Label] {
			t.Errorf("prediction %+v, want %+v", p, want[p.Label])
		}
	}
}

func TestThresholdsReported(t *testing.T) {
	a := newTestAPI(t, Config{}, true)
	var m ModelResponse
	a.do(t, "GET", "/v1/model", "", nil).decode(t, &m)
	if m.Thresholds.Global != 0.15 || len(m.Thresholds.PerLabel) != 1 || m.Thresholds.PerLabel["ant"] != 0.8 {
		t.Errorf("/v1/model thresholds = %+v", m.Thresholds)
	}
	ans := a.do(t, "POST", "/v1/predict", "", jpegImg)
	if !bytes.Contains(ans.body, []byte(`{"label":"bee","confidence":0.2,"threshold":0.15,"above_threshold":true}`)) {
		t.Errorf("wire form of a prediction: %s", ans.body)
	}
	body, ctype := form(t, file{"a.jpg", jpegImg}, file{"b.jpg", jpegImg})
	var up UploadResponse
	a.do(t, "POST", "/upload", ctype, body).decode(t, &up)
	for _, r := range up.Results {
		checkThresholds(t, r.Predictions)
	}
}

// TestThresholdsFallback: when the served package cannot be read, every
// label gets DefaultThreshold.
func TestThresholdsFallback(t *testing.T) {
	a := newTestAPI(t, Config{}, true)
	if err := os.WriteFile(a.pkg, []byte("gone"), 0o644); err != nil {
		t.Fatal(err)
	}
	var p PredictResponse
	a.do(t, "POST", "/v1/predict", "", jpegImg).decode(t, &p)
	for _, l := range p.Predictions {
		if l.Threshold != DefaultThreshold || l.AboveThreshold != (l.Confidence >= DefaultThreshold) {
			t.Errorf("fallback: %+v", l)
		}
	}
}

func TestReadThresholds(t *testing.T) {
	pkg, sum := fakePackage(t)
	th, err := readThresholds(pkg, sum)
	if err != nil || th.Global != 0.15 || th.PerLabel["ant"] != 0.8 || len(th.PerLabel) != 1 {
		t.Fatalf("readThresholds = %+v, %v", th, err)
	}
	if _, err := readThresholds(pkg, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("wrong sha256: %v", err)
	}
}

func TestPage(t *testing.T) {
	a := newTestAPI(t, Config{}, true)
	req, _ := http.NewRequest("GET", a.URL+"/upload", nil)
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := string(b)
	for _, want := range []string{"上传图片 / Upload photos", `name="viewport"`, "multiple", `fetch("/upload`,
		`"Authorization": "Bearer "`, "above_threshold", `id="key"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, external := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(page, external) {
			t.Errorf("page refers to an external resource (%q)", external)
		}
	}
}

func TestModelHealthMetrics(t *testing.T) {
	a := newTestAPI(t, Config{MaxFiles: 7}, true)
	var m ModelResponse
	a.do(t, "GET", "/v1/model", "", nil).decode(t, &m)
	if m.Model.ID != "fake-model" || len(m.Model.Labels) != 3 || m.Plugin.Pid != 4000 || m.Plugin.Name != "onnx-cpu" ||
		m.Package != a.pkg || m.Limits.MaxFiles != 7 || m.Model.LoadMS != 1.5 {
		t.Errorf("/v1/model = %+v", m)
	}
	if ans := a.do(t, "GET", "/healthz", "", nil); ans.status != 200 || !bytes.Contains(ans.body, []byte(`"status":"ok"`)) {
		t.Errorf("/healthz = %d %s", ans.status, ans.body)
	}
	a.do(t, "POST", "/v1/predict", "", jpegImg)
	a.do(t, "POST", "/v1/predict", "", textBody)
	metrics := string(a.do(t, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`autocv_agent_requests_total{code="200"} 3`, // model, healthz, predict
		`autocv_agent_requests_total{code="415"} 1`,
		`autocv_agent_predict_seconds_count 1`,
		`autocv_agent_predict_seconds_bucket{le="+Inf"} 1`,
		`autocv_agent_plugin_restarts_total 0`,
		`autocv_agent_model_info{id="fake-model",version="3"} 1`,
		"# TYPE autocv_agent_predict_seconds histogram",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	for _, tc := range []struct {
		method, path string
		code         api.Code
	}{
		{"GET", "/v2/predict", CodeNotFound}, {"DELETE", "/v1/predict", CodeMethod},
	} {
		var e ErrorResponse
		a.do(t, tc.method, tc.path, "", nil).decode(t, &e)
		if e.Code != tc.code {
			t.Errorf("%s %s: %+v", tc.method, tc.path, e)
		}
	}
}

func TestUnavailable(t *testing.T) {
	a := newTestAPI(t, Config{}, false) // plugin never started
	for _, path := range []string{"/v1/predict", "/healthz", "/v1/model"} {
		method := "GET"
		if path == "/v1/predict" {
			method = "POST"
		}
		ans := a.do(t, method, path, "", jpegImg)
		var e ErrorResponse
		ans.decode(t, &e)
		if ans.status != 503 || e.Code != CodeUnavailable || !strings.Contains(e.Message, "starting") {
			t.Errorf("%s: %d %s", path, ans.status, ans.body)
		}
	}
	if m := string(a.do(t, "GET", "/metrics", "", nil).body); !strings.Contains(m, "autocv_agent_model_up 0") {
		t.Errorf("metrics while unavailable:\n%s", m)
	}
}

func TestPluginCrash(t *testing.T) {
	a := newTestAPI(t, Config{}, true)
	ans := a.do(t, "POST", "/v1/predict", "", crashImg)
	var e ErrorResponse
	ans.decode(t, &e)
	if ans.status != 503 || e.Code != CodeUnavailable {
		t.Fatalf("crash: %d %s", ans.status, ans.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.do(t, "GET", "/healthz", "", nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not healthy again after the plugin was restarted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ans := a.do(t, "POST", "/v1/predict", "", jpegImg); ans.status != 200 {
		t.Errorf("after restart: %d %s", ans.status, ans.body)
	}
	if m := string(a.do(t, "GET", "/metrics", "", nil).body); !strings.Contains(m, "autocv_agent_plugin_restarts_total 1") {
		t.Errorf("metrics after restart:\n%s", m)
	}
}
