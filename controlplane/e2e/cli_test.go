package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/report"
)

// cliBinary builds the autocv CLI once per test run.
func cliBinary(t *testing.T) string {
	t.Helper()
	return testenv.GoBuild(t, "./controlplane/cmd/autocv", nil)
}

// cliRunner runs the autocv binary as a user's shell would: a home and
// config folder of its own, settings from the environment.
type cliRunner struct {
	t    *testing.T
	bin  string
	home string
	env  map[string]string
}

func newCLI(t *testing.T) *cliRunner {
	home := t.TempDir()
	return &cliRunner{t: t, bin: cliBinary(t), home: home, env: map[string]string{}}
}

// run returns stdout, stderr and the exit status; extra holds KEY=VALUE
// settings for this call only.
func (c *cliRunner) run(stdin string, extra []string, args ...string) (string, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	env := []string{"HOME=" + c.home, "XDG_CONFIG_HOME=" + filepath.Join(c.home, ".config"), "PATH=" + os.Getenv("PATH")}
	for k, v := range c.env {
		env = append(env, k+"="+v)
	}
	cmd.Env = append(env, extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("autocv %s: %v", strings.Join(args, " "), err)
	}
	c.t.Logf("$ autocv %s   (exit %d)\n%s%s", strings.Join(args, " "), code, tail(out.String(), 3000), tail(errb.String(), 3000))
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (c *cliRunner) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", nil, args...)
	if code != 0 {
		c.t.Fatalf("autocv %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// okJSON runs a command with --json and decodes its stdout into v.
func (c *cliRunner) okJSON(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("autocv %s --json: stdout is not JSON (%v):\n%s", strings.Join(args, " "), err, out)
	}
}

// flakyProxy forwards to the server and breaks the connection of one
// PATCH /uploads/{id} chunk half way, as a poor link would.
type flakyProxy struct {
	patches atomic.Int32
	broken  atomic.Int32
	breakAt int32 // which PATCH (1-based) to break
}

func (p *flakyProxy) handler(t *testing.T, target string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// Drop the client's connection: it sees a broken link, not an answer.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, herr := hj.Hijack(); herr == nil {
				conn.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/v1/uploads/") {
			if p.patches.Add(1) == p.breakAt {
				p.broken.Add(1)
				r.Body = io.NopCloser(io.MultiReader(io.LimitReader(r.Body, 1<<20), errReader{}))
			}
		}
		rp.ServeHTTP(w, r)
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("link dropped") }

// The autocv CLI drives the whole product as an operator's script would:
// log in, upload a dataset (resumably, through a link that drops a chunk),
// train, validate, publish, call the service with an API key, and fail
// the way scripts can rely on.
func TestCLI(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 1})
	c := newCLI(t)
	cfgFile := filepath.Join(c.home, ".config", "autocv", "credentials.json")

	// Log in (password from the environment); later commands use the
	// saved server and session with nothing in the environment.
	if out, errOut, code := c.run("", []string{"AUTOCV_PASSWORD=" + adminPassword}, "login", "--server", s.URL, "--username", "admin"); code != 0 || !contains(out, "logged in to "+s.URL+" as admin") {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	fi, err := os.Stat(cfgFile)
	if err != nil {
		t.Fatalf("login saved no credentials: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	if out := c.ok("whoami"); !contains(out, "admin (admin") || !contains(out, s.URL) {
		t.Errorf("whoami after login: %q", out)
	}
	// A wrong password on stdin: the server's error, exit 1.
	if _, errOut, code := c.run("not-the-password\n", nil, "login", "--server", s.URL, "--username", "admin"); code != 1 ||
		errOut != "autocv: wrong username or password (bad_credentials, HTTP 401)\n" {
		t.Errorf("login with a wrong password: exit %d, stderr %q", code, errOut)
	}
	if out := c.ok("whoami"); !contains(out, "admin") {
		t.Errorf("a failed login lost the saved session: %q", out)
	}

	// 数据中心: the hymenoptera training photos as a 27 MB zip. Lowering
	// the threshold sends it through /uploads in 4 MiB chunks; the proxy
	// drops the connection in the middle of the third.
	zipPath := filepath.Join(t.TempDir(), "hymenoptera.zip")
	if err := os.WriteFile(zipPath, zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := &flakyProxy{breakAt: 3}
	ps := httptest.NewServer(proxy.handler(t, s.URL))
	defer ps.Close()
	var d api.Dataset
	out, errOut, code := c.run("", []string{"AUTOCV_SERVER=" + ps.URL, "AUTOCV_TOKEN=" + savedToken(t, cfgFile),
		"AUTOCV_CHUNK_THRESHOLD=4194304", "AUTOCV_CHUNK_SIZE=4194304"},
		"datasets", "create", "--name", "蚂蚁和蜜蜂", "--zip", zipPath, "--wait", "--json")
	if code != 0 {
		t.Fatalf("datasets create (resumable): exit %d\n%s%s", code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("datasets create --json: %v\n%s", err, out)
	}
	if r := d.ImportReport; d.Status != api.DatasetReady || r == nil || r.Accepted["ants"] < 100 || r.Accepted["bees"] < 100 {
		t.Fatalf("dataset after a resumable upload: %s %s", d.Status, jsonOf(r))
	}
	// Every chunk once, plus the broken one once more: a client that
	// started over after the cut would send about twice as many.
	fi, err = os.Stat(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	chunks := int32((fi.Size() + 4<<20 - 1) / (4 << 20))
	if n := proxy.patches.Load(); n < chunks || n > chunks+1 || proxy.broken.Load() != 1 {
		t.Errorf("%d chunk requests, %d broken; want %d chunks with one broken and resent (at most %d requests)", n, proxy.broken.Load(), chunks, chunks+1)
	}
	if !contains(errOut, "uploading hymenoptera.zip") || !contains(errOut, "resuming") || !contains(errOut, "100%") {
		t.Errorf("upload progress on stderr: %q", errOut)
	}

	// A small zip goes in one multipart request.
	small := filepath.Join(t.TempDir(), "small.zip")
	if err := os.WriteFile(small, zipDir(t, filepath.Join(testenv.Data(t, "datasets", "hymenoptera", "val"), "ants"), "ants"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("datasets", "create", "--name", "val ants", "--zip", small, "--wait"); !contains(out, "ants") || !contains(out, "status   ready") {
		t.Errorf("datasets create (one request): %s", out)
	}
	var list api.DatasetList
	c.okJSON(&list, "datasets", "list")
	if list.Total != 2 {
		t.Fatalf("datasets list: %+v", list)
	}
	smallID := list.Items[0].ID
	if list.Items[0].Name != "val ants" {
		smallID = list.Items[1].ID
	}
	// Single images: a new label, one photo refused by the image rules.
	bees, _ := filepath.Glob(filepath.Join(testenv.Data(t, "datasets", "hymenoptera", "train"), "bees", "*.jpg"))
	if len(bees) < 2 {
		t.Fatalf("bees photos: %v", bees)
	}
	notImage := filepath.Join(t.TempDir(), "notes.jpg")
	if err := os.WriteFile(notImage, []byte("not a photo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("datasets", "add-images", smallID, "bees", bees[0], bees[1], notImage); !contains(out, "added 2 images to label bees") || !contains(out, "skipped 1") {
		t.Errorf("datasets add-images: %s", out)
	}
	var ims api.ImageList
	c.okJSON(&ims, "datasets", "images", smallID, "bees", "--page-size", "1")
	if ims.Total != 2 || len(ims.Items) != 1 {
		t.Errorf("datasets images --page-size 1: %+v", ims)
	}

	// 模型列表 + training with progress.
	var m api.Model
	c.okJSON(&m, "models", "create", "--name", "hymenoptera", "--contact", "qa@example.com")
	if m.ID == "" {
		t.Fatal("models create gave no id")
	}
	out, errOut, code = c.run("", nil, "train", m.ID, "--type", "cloud-general", "--metric", "f1", "--data", d.ID+":ants,bees", "--wait")
	if code != 0 {
		t.Fatalf("train --wait: exit %d\n%s%s", code, out, errOut)
	}
	if !contains(out, "succeeded") || !contains(errOut, "v1 ") {
		t.Errorf("train --wait: stdout %q, stderr %q", out, errOut)
	}
	var v api.Version
	c.okJSON(&v, "versions", "get", m.ID, "1")
	if v.Status != "succeeded" || v.Metrics["accuracy"] < 0.8 {
		t.Errorf("versions get: %+v", v)
	}
	repFile := filepath.Join(t.TempDir(), "report.json")
	c.ok("versions", "report", m.ID, "1", "--out", repFile)
	if b, err := os.ReadFile(repFile); err != nil {
		t.Error(err)
	} else if _, err := report.Parse(b); err != nil {
		t.Errorf("versions report --out wrote a report that does not parse: %v", err)
	}
	if out := c.ok("versions", "report", m.ID, "1"); !contains(out, "accuracy") || !contains(out, "ants") {
		t.Errorf("versions report: %s", out)
	}
	pkg := filepath.Join(t.TempDir(), "model.tar.gz")
	c.ok("versions", "package", m.ID, "1", "--out", pkg)
	if b, err := os.ReadFile(pkg); err != nil || len(b) < 1000 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("versions package wrote %d bytes (%v), want a gzip file", len(b), err)
	}

	// 校验: two photos from the validation split.
	val := testenv.Data(t, "datasets", "hymenoptera", "val")
	ant := filepath.Join(val, "ants", "10308379_1b6c72e180.jpg")
	bee := filepath.Join(val, "bees", "1032546534_06907fe3b3.jpg")
	var vr api.BatchResponse
	c.okJSON(&vr, "validate", m.ID, "1", ant, bee)
	if len(vr.Results) != 2 || vr.Results[0].File != filepath.Base(ant) || len(vr.Results[0].Predictions) != 2 ||
		vr.Results[0].Predictions[0].Label != "ants" || len(vr.Results[1].Predictions) != 2 {
		t.Errorf("validate: %+v", vr)
	}
	if out := c.ok("validate", m.ID, "1", ant, bee); !contains(out, ant+"\n") || !contains(out, bee+"\n") || !contains(out, "CONFIDENCE") {
		t.Errorf("validate (table): %s", out)
	}

	// 发布: a cloud API, an API key, and inference with that key alone.
	if out := c.ok("services", "create", "--name", "蚂蚁识别", "--path", "insects/ants", "--model", m.ID, "--version", "1"); !contains(out, "/api/v1/infer/insects/ants") {
		t.Errorf("services create: %s", out)
	}
	// Enrolment tokens: made, listed, revoked.
	if tok := strings.TrimSpace(c.ok("enrollment-tokens", "create", "--group", "cli", "--uses", "2")); !strings.HasPrefix(tok, "acve_") {
		t.Errorf("enrollment-tokens create printed %q, want just the token", tok)
	}
	var toks api.EnrollmentTokenList
	c.okJSON(&toks, "enrollment-tokens", "list", "--json")
	if len(toks.Items) != 1 || toks.Items[0].Group != "cli" {
		t.Fatalf("enrollment-tokens list: %+v", toks.Items)
	}
	c.ok("enrollment-tokens", "delete", toks.Items[0].ID)
	if out := c.ok("enrollment-tokens", "list"); strings.Contains(out, toks.Items[0].ID) {
		t.Errorf("revoked token still listed:\n%s", out)
	}
	key := strings.TrimSpace(c.ok("apikeys", "create", "cli-test"))
	if !strings.HasPrefix(key, "acvk_") {
		t.Fatalf("apikeys create printed %q, want just the key", key)
	}
	keyEnv := []string{"AUTOCV_TOKEN=" + key, "AUTOCV_SERVER=" + s.URL}
	out, errOut, code = c.run("", keyEnv, "infer", "insects/ants", ant, "--json")
	var one api.PredictResponse
	if code != 0 || json.Unmarshal([]byte(out), &one) != nil {
		t.Fatalf("infer --json: exit %d\n%s%s", code, out, errOut)
	}
	if one.Model.ID != m.ID || len(one.Predictions) != 2 || one.Predictions[0].Label != "ants" {
		t.Errorf("infer: %+v", one)
	}
	out, errOut, code = c.run("", keyEnv, "infer", "/api/v1/infer/insects/ants", ant, bee, "--top-k", "1")
	if code != 0 || !contains(out, ant+"\n") || !contains(out, bee+"\n") || predictionRows(out) != 2 {
		t.Errorf("infer two images --top-k 1: exit %d\n%s%s", code, out, errOut)
	}
	var svc api.ServiceList
	c.okJSON(&svc, "services", "list")
	if len(svc.Items) != 1 || svc.Items[0].Stats.Calls < 2 {
		t.Errorf("services list after two calls: %+v", svc.Items)
	}

	// Errors scripts rely on: the server's message and exit 1; a wrong
	// command line exits 2.
	if _, errOut, code := c.run("", nil, "datasets", "get", "ds_nope"); code != 1 || errOut != "autocv: dataset ds_nope not found (not_found, HTTP 404)\n" {
		t.Errorf("datasets get of an unknown id: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := c.run("", nil, "train", m.ID, "--type", "cloud-general"); code != 2 || !contains(errOut, "--data") {
		t.Errorf("train without --data: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := c.run("", nil, "datasets", "frobnicate"); code != 2 || !contains(errOut, "unknown subcommand") {
		t.Errorf("unknown subcommand: exit %d, stderr %q", code, errOut)
	}

	// Log out: the session ends on the server and the file goes.
	token := savedToken(t, cfgFile)
	c.ok("logout")
	if _, err := os.Stat(cfgFile); !os.IsNotExist(err) {
		t.Errorf("credentials still there after logout: %v", err)
	}
	if _, errOut, code := c.run("", []string{"AUTOCV_SERVER=" + s.URL, "AUTOCV_TOKEN=" + token}, "whoami"); code != 1 || !contains(errOut, "HTTP 401") {
		t.Errorf("whoami with the logged-out session: exit %d, stderr %q", code, errOut)
	}
}

func savedToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Token string }
	if err := json.Unmarshal(b, &c); err != nil || c.Token == "" {
		t.Fatalf("credentials file %s: %v %q", path, err, b)
	}
	return c.Token
}

// predictionRows counts the label rows of autocv's prediction tables.
func predictionRows(out string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "  ") && len(f) == 4 && (f[0] == "ants" || f[0] == "bees") {
			n++
		}
	}
	return n
}
