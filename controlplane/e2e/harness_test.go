// Package e2e runs the real control plane: the autocv-server binary with
// its trainer worker processes and onnx plugins, on SQLite and on a real
// PostgreSQL, driven over HTTP and MQTT as users, workers and devices would.
package e2e_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store/pgtest"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	apiclient "github.com/autocv/autocv/protocol/api/client"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sc, err := spec(); err == nil {
		sc.summary(os.Stdout)
	}
	pgtest.Stop()
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds autocv-server, autocv-trainer and autocv-plugin-onnx into
// one folder with the onnxruntime library beside them, as make build does.
func binaries(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	lib := testenv.ORTLibrary(t)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "autocv-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"./controlplane/cmd/autocv-server", "./trainer/cmd/autocv-trainer", "./plugins/onnx/cmd/autocv-plugin-onnx"} {
			args := []string{"build", "-o", binDir}
			// AUTOCV_E2E_RACE=1 builds the server with the race detector
			// (slower imports; run by hand after concurrency changes).
			if os.Getenv("AUTOCV_E2E_RACE") == "1" && strings.HasSuffix(pkg, "autocv-server") {
				args = append(args, "-race")
			}
			cmd := exec.Command("go", append(args, pkg)...)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
		b, err := os.ReadFile(lib)
		if err == nil {
			err = os.WriteFile(filepath.Join(binDir, "libonnxruntime.so.1"), b, 0o644)
		}
		buildErr = err
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

const adminPassword = "e2e-admin-password"

// server is a running autocv-server.
type server struct {
	t        *testing.T
	cmd      *exec.Cmd
	args     []string
	env      []string
	URL      string
	MQTTAddr string
	DataDir  string
	out      *testenv.LockedBuffer
	done     chan struct{}
}

type serverOpts struct {
	dsn      string // "" = SQLite in the data dir
	dataDir  string // "" = a fresh temp dir
	trainers int
	httpPort int
	mqttPort int
	extra    []string
}

func featureCache() string {
	if d := os.Getenv("AUTOCV_TEST_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "autocv-test-features")
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	binaries(t)
	sc := specFor(t)
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	if o.httpPort == 0 {
		o.httpPort = testenv.FreePort(t)
	}
	if o.mqttPort == 0 {
		o.mqttPort = testenv.FreePort(t)
	}
	s := &server{t: t, DataDir: o.dataDir, URL: fmt.Sprintf("http://127.0.0.1:%d", o.httpPort),
		MQTTAddr: fmt.Sprintf("127.0.0.1:%d", o.mqttPort)}
	s.args = append([]string{"--data-dir", o.dataDir, "--http-addr", fmt.Sprintf("127.0.0.1:%d", o.httpPort),
		"--mqtt-addr", s.MQTTAddr, "--trainers", strconv.Itoa(o.trainers), "--trainer-cache-dir", featureCache(),
		"--lease-ttl", "8s", "--log-level", "info", "--shutdown-timeout", "10s"}, o.extra...)
	if o.dsn != "" {
		s.args = append(s.args, "--database", o.dsn)
	}
	s.env = append(os.Environ(), "AUTOCV_ADMIN_PASSWORD="+adminPassword,
		"AUTOCV_BACKBONES="+testenv.Data(t, "backbones"), "ONNXRUNTIME_LIB=")
	s.out = &testenv.LockedBuffer{}
	s.start()
	t.Cleanup(func() {
		s.stop()
		sc.expect(t, strings.TrimPrefix(s.URL, "http://"))
		if strings.Contains(s.out.String(), "WARNING: DATA RACE") {
			t.Error("the race detector found a data race in autocv-server (see its output)")
		}
		if t.Failed() {
			t.Logf("autocv-server output (last 6000 bytes):\n%s", tail(s.out.String(), 6000))
		}
	})
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	s.cmd = exec.Command(filepath.Join(binDir, "autocv-server"), s.args...)
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("autocv-server exited at start:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("autocv-server not ready after 60s:\n%s", s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the server gracefully (SIGTERM), killing it if it hangs.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// kill9 kills the server without warning; its trainers get SIGTERM from
// the kernel (parent death signal).
func (s *server) kill9() {
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// client calls the API as one user: the typed client of
// protocol/api/client for the normal flows, and call, raw and multipart
// (the exact status and body) for bad input. Both go through
// http.DefaultTransport, so the OpenAPI check sees every answer.
type client struct {
	*apiclient.Client
	t *testing.T
}

// newClient calls the server (or agent) at base with token ("" for none).
func newClient(t *testing.T, base, token string) *client {
	return &client{Client: apiclient.New(base, token), t: t}
}

func (s *server) login(t *testing.T, user, password string) *client {
	t.Helper()
	c := newClient(t, s.URL, "")
	out, err := c.Login(t.Context(), api.LoginRequest{Username: user, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	c.Token = out.Token
	return c
}

func (s *server) admin(t *testing.T) *client { return s.login(t, "admin", adminPassword) }

// errStatus is the HTTP status of a typed call the server refused, 0 when
// the call succeeded; a call that got no answer fails the test.
func errStatus(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var e *apiclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("no answer: %v", err)
	}
	return e.Status
}

// filesOf are files for a typed upload, in name order.
func filesOf(files map[string][]byte) []apiclient.File {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sortStrings(names)
	out := make([]apiclient.File, len(names))
	for i, n := range names {
		out[i] = fileOf(n, files[n])
	}
	return out
}

func fileOf(name string, b []byte) apiclient.File {
	return apiclient.File{Name: name, Body: bytes.NewReader(b), Size: int64(len(b))}
}

// jsonOf is v as JSON, for failure messages.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// call sends a JSON body (nil for none) and decodes a JSON answer into out
// (nil to skip). It returns the status.
func (c *client) call(method, path string, body, out any) int {
	c.t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r, ctype = bytes.NewReader(j), "application/json"
	}
	status, raw := c.raw(method, path, ctype, r)
	if out != nil && status < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return status
}

func (c *client) raw(method, path, ctype string, body io.Reader) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.BaseURL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

// multipart sends fields and files ("file" parts) and returns status and
// body.
func (c *client) multipart(path string, fields map[string]string, files map[string][]byte) (int, []byte) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		w, _ := mw.CreateFormFile("file", n)
		_, _ = w.Write(files[n])
	}
	_ = mw.Close()
	return c.raw("POST", path, mw.FormDataContentType(), &buf)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// zipDir zips a folder of label folders under prefix/ (a wrapper folder, as
// zip tools make) and returns the bytes.
func zipDir(t *testing.T, dir, prefix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		w, err := zw.Create(prefix + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitFor polls cond every 200ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not done after %s (last state: %s)", what, d, last)
}

// createDataset uploads a zip and waits until the import ends.
func (c *client) createDataset(name string, zipBytes []byte) *api.Dataset {
	c.t.Helper()
	zip := fileOf("data.zip", zipBytes)
	d, err := c.CreateDataset(c.t.Context(), name, &zip, "")
	if err != nil {
		c.t.Fatalf("create dataset %s: %v", name, err)
	}
	return c.waitDataset(d.ID)
}

// waitDataset waits until a dataset's import ends. A dataset without an
// import report (none ended, or it failed) gets an empty one, so that
// tests can read it.
func (c *client) waitDataset(id string) *api.Dataset {
	c.t.Helper()
	var d *api.Dataset
	waitFor(c.t, 2*time.Minute, "dataset "+id+" import", func() (bool, string) {
		got, err := c.GetDataset(c.t.Context(), id)
		if err != nil {
			return false, err.Error()
		}
		d = got
		return d.Status != api.DatasetProcessing, d.Status
	})
	if d.ImportReport == nil {
		d.ImportReport = &api.ImportReport{}
	}
	return d
}

// waitVersion waits until a version's training ends.
func (c *client) waitVersion(modelID string, v int, d time.Duration) *api.Version {
	c.t.Helper()
	var out *api.Version
	waitFor(c.t, d, fmt.Sprintf("model %s version %d", modelID, v), func() (bool, string) {
		got, err := c.GetVersion(c.t.Context(), modelID, v)
		if err != nil {
			return false, err.Error()
		}
		out = got
		return got.Status != api.VersionQueued && got.Status != api.VersionTraining && got.Status != api.VersionStopping,
			fmt.Sprintf("%s %s %.0f%%", got.Status, got.Progress.Stage, got.Progress.Percent)
	})
	return out
}

// readyValidation starts a version's validation service (校验) and waits
// until it is ready.
func (c *client) readyValidation(modelID string, v int) {
	c.t.Helper()
	if _, err := c.StartValidation(c.t.Context(), modelID, v); err != nil {
		c.t.Fatalf("start validation of version %d: %v", v, err)
	}
	waitFor(c.t, time.Minute, "validation service", func() (bool, string) {
		st, err := c.GetValidation(c.t.Context(), modelID, v)
		if err != nil {
			return false, err.Error()
		}
		return st.Status == "ready", st.Status + " " + st.Error
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
