//go:build unix

package agent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/modelpkg"
)

const (
	antPhoto   = "datasets/hymenoptera/val/ants/1124525276_816a07c17f.jpg"
	daisyPhoto = "datasets/flowers5/daisy/10140303196_b88d3d6cec.jpg"
)

// TestServe runs the real agent with the real ONNX plugin on a signed
// ImageNet package and exercises the API over loopback, including a
// plugin crash and a clean shutdown.
func TestServe(t *testing.T) {
	f := setup(t)
	a := f.startAgent(t, "serve", "--package", f.pkg, "--listen", "127.0.0.1:0")
	a.waitHealthy(t, 90*time.Second)
	ant := f.read(t, antPhoto)
	daisy := f.read(t, daisyPhoto)

	// The default plugin setting is auto: onnx-cuda when the onnxruntime
	// library carries CUDA, else onnx-cpu, and the log says why.
	t.Run("plugin choice", func(t *testing.T) {
		var m httpapi.ModelResponse
		a.do(t, "GET", "/v1/model", "", nil, http.StatusOK, &m)
		if slices.Contains(m.Plugin.ExecutionProviders, "cuda") {
			if m.Plugin.Name != "onnx-cuda" || (m.Model.ExecutionProvider != "cuda" && m.Model.ExecutionProvider != "cpu") {
				t.Errorf("library with CUDA: plugin %q, provider %q; want onnx-cuda on cuda or cpu", m.Plugin.Name, m.Model.ExecutionProvider)
			}
			return
		}
		if m.Plugin.Name != "onnx-cpu" || m.Model.ExecutionProvider != "cpu" {
			t.Errorf("library without CUDA (providers %v): plugin %q, provider %q; want onnx-cpu on cpu",
				m.Plugin.ExecutionProviders, m.Plugin.Name, m.Model.ExecutionProvider)
		}
		if log := a.stderr.String(); !strings.Contains(log, "cuda unavailable: the onnxruntime library has no CUDA provider that works here") {
			t.Errorf("the log does not say why onnx-cpu was chosen:\n%s", log)
		}
	})

	t.Run("predict", func(t *testing.T) {
		var got httpapi.PredictResponse
		a.do(t, "POST", "/v1/predict", "application/octet-stream", ant, http.StatusOK, &got)
		if got.Model.ID != f.manifest.ModelID || got.Model.Version != f.manifest.Version {
			t.Errorf("model = %+v, want %s v%d", got.Model, f.manifest.ModelID, f.manifest.Version)
		}
		if len(got.Predictions) != 5 || got.Predictions[0].Label != "ant" {
			t.Fatalf("predictions = %+v, want 5 with ant first", got.Predictions)
		}
		// The package's thresholds (the demo's global 0.5), read from the
		// manifest the plugin verified.
		if p := got.Predictions[0]; p.Threshold != f.manifest.Thresholds.Global || !p.AboveThreshold || got.Predictions[1].AboveThreshold {
			t.Errorf("thresholds not applied: %+v", got.Predictions[:2])
		}
		for i := 1; i < len(got.Predictions); i++ {
			if got.Predictions[i].Confidence > got.Predictions[i-1].Confidence {
				t.Errorf("predictions not sorted by confidence: %+v", got.Predictions)
			}
		}
		if got.LatencyMS <= 0 {
			t.Errorf("latency_ms = %v", got.LatencyMS)
		}
		// The Content-Type does not matter; top_k does.
		a.do(t, "POST", "/v1/predict?top_k=2", "text/plain", ant, http.StatusOK, &got)
		if len(got.Predictions) != 2 || got.Predictions[0].Label != "ant" {
			t.Errorf("top_k=2: predictions = %+v", got.Predictions)
		}
	})

	t.Run("upload", func(t *testing.T) {
		body, ctype := multipartFiles(t, map[string][]byte{"ant.jpg": ant, "daisy.jpg": daisy}, "ant.jpg", "daisy.jpg")
		var got httpapi.UploadResponse
		a.do(t, "POST", "/upload", ctype, body, http.StatusOK, &got)
		if len(got.Results) != 2 || got.Results[0].File != "ant.jpg" || got.Results[1].File != "daisy.jpg" {
			t.Fatalf("results = %+v, want ant.jpg then daisy.jpg", got.Results)
		}
		if top := got.Results[0].Predictions[0].Label; top != "ant" {
			t.Errorf("ant.jpg top-1 = %q", top)
		}
		if top, want := got.Results[1].Predictions[0].Label, f.manifest.Golden[1].ExpectedTop1; top != want {
			t.Errorf("daisy.jpg top-1 = %q, want %q", top, want)
		}
		one, ctype := multipartFiles(t, map[string][]byte{"ant.jpg": ant}, "ant.jpg")
		var single httpapi.PredictResponse
		a.do(t, "POST", "/upload", ctype, one, http.StatusOK, &single)
		if len(single.Predictions) == 0 || single.Predictions[0].Label != "ant" {
			t.Errorf("one-file upload = %+v", single)
		}
	})

	t.Run("page", func(t *testing.T) {
		resp, err := http.Get(a.url + "/upload")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "上传") {
			t.Errorf("GET /upload: %d, page without 上传", resp.StatusCode)
		}
	})

	t.Run("gif refused", func(t *testing.T) {
		var e httpapi.ErrorResponse
		a.do(t, "POST", "/v1/predict", "image/jpeg", gifImage(t), http.StatusUnsupportedMediaType, &e)
		if e.Code != httpapi.CodeUnsupportedFormat || !strings.Contains(e.Message, "GIF") {
			t.Errorf("GIF answer = %+v", e)
		}
	})

	t.Run("plugin restart", func(t *testing.T) {
		var m httpapi.ModelResponse
		a.do(t, "GET", "/v1/model", "", nil, http.StatusOK, &m)
		if m.Plugin.Pid == 0 || len(m.Model.Labels) != 1000 {
			t.Fatalf("/v1/model = pid %d, %d labels", m.Plugin.Pid, len(m.Model.Labels))
		}
		proc, _ := os.FindProcess(m.Plugin.Pid)
		killed := time.Now()
		if err := proc.Kill(); err != nil {
			t.Fatalf("kill plugin %d: %v", m.Plugin.Pid, err)
		}
		for deadline := time.Now().Add(5 * time.Second); syscall.Kill(m.Plugin.Pid, 0) == nil; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("plugin %d still there 5s after SIGKILL", m.Plugin.Pid)
			}
		}
		// Until the new process is up (after a 0.5s back-off), predictions
		// fail fast with 503.
		var e httpapi.ErrorResponse
		a.do(t, "POST", "/v1/predict", "image/jpeg", ant, http.StatusServiceUnavailable, &e)
		if e.Code != httpapi.CodeUnavailable || !strings.Contains(e.Message, "restart") {
			t.Errorf("during restart: %+v", e)
		}
		a.waitHealthy(t, 90*time.Second)
		// the bar: serving again within 2 s of kill -9
		if d := time.Since(killed); d > 2*time.Second {
			t.Errorf("serving again %s after the plugin was killed, want within 2s", d.Round(time.Millisecond))
		} else {
			t.Logf("serving again %s after kill -9", d.Round(time.Millisecond))
		}
		var after httpapi.ModelResponse
		a.do(t, "GET", "/v1/model", "", nil, http.StatusOK, &after)
		if after.Plugin.Pid == m.Plugin.Pid || after.Restarts != 1 {
			t.Errorf("after restart: pid %d (was %d), restarts %d", after.Plugin.Pid, m.Plugin.Pid, after.Restarts)
		}
		var got httpapi.PredictResponse
		a.do(t, "POST", "/v1/predict", "image/jpeg", ant, http.StatusOK, &got)
		if got.Predictions[0].Label != "ant" {
			t.Errorf("after restart top-1 = %q", got.Predictions[0].Label)
		}
		metrics := a.get(t, "/metrics")
		for _, want := range []string{
			"autocv_agent_plugin_restarts_total 1",
			`autocv_agent_requests_total{code="503"}`,
			`autocv_agent_model_info{id="` + f.manifest.ModelID + `",version="1"} 1`,
			"autocv_agent_predict_seconds_count",
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, metrics)
			}
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		var m httpapi.ModelResponse
		a.do(t, "GET", "/v1/model", "", nil, http.StatusOK, &m)
		_ = a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("agent still running 20s after SIGINT")
		}
		if a.err != nil {
			t.Errorf("agent exit after SIGINT: %v\n%s", a.err, a.stderr)
		}
		if err := syscall.Kill(m.Plugin.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("plugin %d still there after the agent exited (kill 0: %v)", m.Plugin.Pid, err)
		}
	})
}

// TestServeRefusesUntrusted checks that the agent will not serve without a
// trusted key, nor a package signed by another key.
func TestServeRefusesUntrusted(t *testing.T) {
	f := setup(t)
	lonely := filepath.Join(t.TempDir(), "model.tar.gz")
	copyFile(t, f.pkg, lonely)

	stderr, err := f.run(t, "serve", "--package", lonely, "--listen", "127.0.0.1:0")
	if exitCode(err) != 1 {
		t.Errorf("no key: exit %v, want 1", err)
	}
	for _, want := range []string{"没有可信的签名公钥", "no trusted signing key", "--trust-key", "signing.pub"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no key: message lacks %q:\n%s", want, stderr)
		}
	}

	other, _, err := modelpkg.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(t.TempDir(), "other.pub")
	if err := modelpkg.WritePublicKey(otherKey, other); err != nil {
		t.Fatal(err)
	}
	stderr, err = f.run(t, "serve", "--package", lonely, "--trust-key", otherKey, "--listen", "127.0.0.1:0")
	if exitCode(err) != 1 {
		t.Errorf("other key: exit %v, want 1", err)
	}
	for _, want := range []string{"model package rejected", modelpkg.KeyID(other)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("other key: message lacks %q:\n%s", want, stderr)
		}
	}
}

func (f *fixture) read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.data, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a request and decodes the JSON answer into out, checking the
// status.
func (a *agentProc) do(t *testing.T, method, path, ctype string, body []byte, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
}

func (a *agentProc) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(a.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// multipartFiles builds a form with one file part per name, in order.
func multipartFiles(t *testing.T, files map[string][]byte, order ...string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, name := range order {
		fw, err := w.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(files[name])
	}
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func gifImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 64, 64), []color.Color{color.Black, color.White})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// TestCommandLine checks the binary's other answers: version, a config
// file with an unknown key, and an unknown command.
func TestCommandLine(t *testing.T) {
	f := setup(t)
	bad := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(bad, []byte("package: "+f.pkg+"\nlisten_addr: 127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type cmdCase struct {
		name string
		args []string
		code int
		want string
	}
	cases := []cmdCase{
		{"version", []string{"version"}, 0, ""},
		{"unknown config key", []string{"serve", "--config", bad}, 1, `unknown key "listen_addr"`},
		{"unknown command", []string{"fly"}, 1, `unknown command "fly"`},
		{"missing package", []string{"serve", "--package", filepath.Join(t.TempDir(), "none.tar.gz")}, 1, "none.tar.gz"},
	}
	if !slices.Contains(engine.Providers(), "cuda") {
		// asked for by name, onnx-cuda does not fall back: it says why
		cases = append(cases, cmdCase{"onnx-cuda without CUDA", []string{"serve", "--package", f.pkg, "--listen", "127.0.0.1:0", "--plugin", "onnx-cuda"},
			1, "execution provider unavailable"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stderr, err := f.run(t, tc.args...)
			if exitCode(err) != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %v, stderr:\n%s\nwant exit %d and %q", err, stderr, tc.code, tc.want)
			}
		})
	}
}
