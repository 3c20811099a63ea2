package installers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
)

// A bee from hymenoptera's val folder: the model trained on train/ never
// saw it.
var beePhoto = []string{"datasets", "hymenoptera", "val", "bees", "1032546534_06907fe3b3.jpg"}

// The linux-amd64 SDK of a freshly trained model, unzipped into a path with
// spaces and Chinese characters, started with its start.sh (which listens
// on every interface), asked from another address of this machine than
// 127.0.0.1, and stopped with SIGTERM.
func TestLinuxSDK(t *testing.T) {
	p, rt := runtimeDir(t, "linux-amd64")
	dir := unzipSDK(t, p, rt)
	port := testenv.FreePort(t)
	cmd := exec.Command(filepath.Join(dir, "start.sh"))
	// start.sh ignores a stray ONNXRUNTIME_LIB: the library beside the plugin serves
	cmd.Env = append(os.Environ(), fmt.Sprintf("AUTOCV_LISTEN=0.0.0.0:%d", port), "ONNXRUNTIME_LIB=/nonexistent/libonnxruntime.so.1")
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("SDK output:\n%s", out.String())
		}
	}()

	host := otherAddress(t)
	url := fmt.Sprintf("http://%s/upload", net.JoinHostPort(host, fmt.Sprint(port)))
	waitReady(t, out, exited, time.Minute)
	if !strings.Contains(out.String(), "package verified") {
		t.Errorf("the SDK did not say it verified the package and its golden samples")
	}
	got := upload(t, url, testenv.Data(t, beePhoto...))
	if got.Model.ID == "" || len(got.Predictions) == 0 || got.Predictions[0].Label != "bees" {
		t.Fatalf("POST %s: %+v, want bees first", url, got)
	}
	t.Logf("POST %s: %s %.3f in %.1f ms", url, got.Predictions[0].Label, got.Predictions[0].Confidence, got.LatencyMS)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM the SDK exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the SDK did not stop within 30s of SIGTERM")
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("no clean stop in the output")
	}
}

// otherAddress is an IPv4 address of this machine other than loopback, so
// the request proves start.sh listens beyond 127.0.0.1; 127.0.0.1 when the
// machine has none (a sandbox without network), logged.
func otherAddress(t *testing.T) string {
	ifaces, err := net.Interfaces()
	if err == nil {
		for _, ifc := range ifaces {
			if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
				continue
			}
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
					return n.IP.String()
				}
			}
		}
	}
	t.Logf("no non-loopback IPv4 address on this machine (%v); asking 127.0.0.1", err)
	return "127.0.0.1"
}

// waitReady waits for the agent's "ready" line.
func waitReady(t *testing.T, out *testenv.LockedBuffer, exited chan error, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(out.String(), "autocv-agent ready") {
		select {
		case err := <-exited:
			t.Fatalf("the SDK exited before serving: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SDK was not ready within %s", limit)
		}
	}
}

// upload sends one photo to the /upload form endpoint as the page does.
func upload(t *testing.T, url, photo string) api.PredictResponse {
	t.Helper()
	got, status, raw, err := post(url, photo)
	if err != nil || status != http.StatusOK {
		t.Fatalf("POST %s: %v %d %s", url, err, status, raw)
	}
	return got
}

// tryUpload is upload that reports failure instead of failing the test.
func tryUpload(url, photo string) (api.PredictResponse, bool) {
	got, status, _, err := post(url, photo)
	return got, err == nil && status == http.StatusOK
}

func post(url, photo string) (api.PredictResponse, int, []byte, error) {
	var got api.PredictResponse
	b, err := os.ReadFile(photo)
	if err != nil {
		return got, 0, nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", filepath.Base(photo))
	if err != nil {
		return got, 0, nil, err
	}
	_, _ = fw.Write(b)
	_ = mw.Close()
	resp, err := (&http.Client{Timeout: time.Minute}).Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		return got, 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(raw, &got)
	}
	return got, resp.StatusCode, raw, err
}

// The linux-amd64-gpu SDK on a machine without an NVIDIA GPU (this one,
// and CI): the agent picks onnx-cuda because the library carries the CUDA
// provider, no CUDA session opens, and the plugin runs on the CPU, saying
// why, and answers.
func TestGPUSDKFallsBackToCPU(t *testing.T) {
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this machine has an NVIDIA GPU: the fallback is not what runs here")
	}
	p, rt := runtimeDir(t, "linux-amd64-gpu")
	dir := unzipSDK(t, p, rt)
	port := testenv.FreePort(t)
	cmd := exec.Command(filepath.Join(dir, "start.sh"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("AUTOCV_LISTEN=127.0.0.1:%d", port))
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("SDK output:\n%s", out.String())
		}
	}()
	waitReady(t, out, exited, 2*time.Minute)
	if !strings.Contains(out.String(), "running on the CPU instead") {
		t.Errorf("the GPU SDK fell back to the CPU without saying why")
	}
	got := upload(t, fmt.Sprintf("http://127.0.0.1:%d/upload", port), testenv.Data(t, beePhoto...))
	if len(got.Predictions) == 0 || got.Predictions[0].Label != "bees" {
		t.Fatalf("GPU SDK on the CPU: %+v, want bees first", got)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/model", port))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"cpu"`) {
		t.Errorf("/v1/model %s: want the cpu provider", raw)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "running on the CPU instead") {
			t.Logf("fallback logged: %.400s", line)
			break
		}
	}
}
