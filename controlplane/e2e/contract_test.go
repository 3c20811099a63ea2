package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
)

// sameContract sends the same photo and the same bad input to the device
// (the deployed agent's :8987 API) and to the cloud (the published
// insects/ants service's /infer): the statuses, codes, query rules and
// JSON fields must agree — one prediction contract, protocol/api.
func sameContract(t *testing.T, s *server, agent *client) {
	t.Helper()
	c := s.admin(t)
	key, err := c.CreateAPIKey(t.Context(), api.TokenRequest{Name: "contract"})
	if err != nil {
		t.Fatalf("api key: %v", err)
	}
	cloud := newClient(t, s.URL, key.Key)
	photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", "bees", "1032546534_06907fe3b3.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	gif := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	corrupt := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'}, bytes.Repeat([]byte{0x42}, 600)...)

	type answer struct {
		status int
		raw    []byte
	}
	both := func(query, ctype string, body []byte) (dev, cl answer) {
		dev.status, dev.raw = agent.raw("POST", "/v1/predict"+query, ctype, bytes.NewReader(body))
		cl.status, cl.raw = cloud.raw("POST", "/api/v1/infer/insects/ants"+query, ctype, bytes.NewReader(body))
		return dev, cl
	}
	for _, tc := range []struct {
		name, query string
		body        []byte
		status      int
		code        api.Code
	}{
		{"empty body", "", nil, 400, api.CodeEmptyBody},
		{"text", "", []byte("hello, this is not a photo"), 415, api.CodeNotAnImage},
		{"gif", "", gif, 415, api.CodeUnsupportedFormat},
		{"corrupt jpeg", "", corrupt, 422, api.CodeCorrupt},
		{"over the image limit", "", append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, api.MaxImageBytes)...), 413, api.CodeTooLarge},
		{"top_k 0", "?top_k=0", photo, 400, api.CodeBadTopK},
		{"top_k words", "?top_k=five", photo, 400, api.CodeBadTopK},
		{"threshold over 1", "?threshold=2", photo, 400, api.CodeBadThreshold},
		{"threshold words", "?threshold=high", photo, 400, api.CodeBadThreshold},
	} {
		dev, cl := both(tc.query, "image/jpeg", tc.body)
		for who, a := range map[string]answer{"device": dev, "cloud": cl} {
			var e api.Error
			if err := json.Unmarshal(a.raw, &e); a.status != tc.status || err != nil || e.Code != tc.code || e.Message == "" {
				t.Errorf("%s: the %s answers %d %s, want %d %s", tc.name, who, a.status, a.raw, tc.status, tc.code)
			}
		}
	}

	// A good photo: top_k above the label count is clamped on both, the
	// threshold parameter is honoured on both, and the JSON has one shape.
	dev, cl := both("?top_k=5&threshold=0.3", "image/jpeg", photo)
	var d, k api.PredictResponse
	if dev.status != 200 || cl.status != 200 || json.Unmarshal(dev.raw, &d) != nil || json.Unmarshal(cl.raw, &k) != nil {
		t.Fatalf("photo: device %d %s, cloud %d %s", dev.status, dev.raw, cl.status, cl.raw)
	}
	for who, r := range map[string]api.PredictResponse{"device": d, "cloud": k} {
		if len(r.Predictions) != 2 || r.Model.ID == "" || r.Model.Version == 0 {
			t.Errorf("%s: %+v, want both labels of a 2-label model for top_k=5", who, r)
		}
		for _, p := range r.Predictions {
			if p.Threshold != 0.3 || p.AboveThreshold != (p.Confidence >= 0.3) {
				t.Errorf("%s: %+v with threshold=0.3", who, p)
			}
		}
	}
	if a, b := fields(t, dev.raw), fields(t, cl.raw); !slices.Equal(a, b) {
		t.Errorf("the device's JSON has fields %v, the cloud's %v", a, b)
	}

	// Several files, one of them bad: results in order, the bad one with
	// the same code on both.
	dev.status, dev.raw = multipartPost(t, agent, "/upload", map[string][]byte{"a.jpg": photo, "b.gif": gif})
	cl.status, cl.raw = multipartPost(t, cloud, "/api/v1/infer/insects/ants", map[string][]byte{"a.jpg": photo, "b.gif": gif})
	for who, a := range map[string]answer{"device": dev, "cloud": cl} {
		var r api.BatchResponse
		if err := json.Unmarshal(a.raw, &r); a.status != 200 || err != nil || len(r.Results) != 2 ||
			len(r.Results[0].Predictions) != 2 || r.Results[1].Code != api.CodeUnsupportedFormat || len(r.Results[1].Predictions) != 0 {
			t.Errorf("%s, two files: %d %s", who, a.status, a.raw)
		}
	}
	if a, b := fields(t, dev.raw), fields(t, cl.raw); !slices.Equal(a, b) {
		t.Errorf("several files: the device's JSON has fields %v, the cloud's %v", a, b)
	}
}

// multipartPost sends files as "file" parts in name order.
func multipartPost(t *testing.T, c *client, path string, files map[string][]byte) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fw, err := w.CreateFormFile("file", n)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(files[n])
	}
	_ = w.Close()
	return c.raw("POST", path, w.FormDataContentType(), &body)
}

// fields lists the JSON paths of a body ("model.id", "predictions[].label"),
// sorted, without values.
func fields(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	seen := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				seen[prefix+k] = true
				walk(prefix+k+".", e)
			}
		case []any:
			for _, e := range x {
				walk(strings.TrimSuffix(prefix, ".")+"[].", e)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// uploadPage drives the device's /upload page in Chromium with a photo:
// the page must show both labels of the 2-label model and no error (it
// asks for top_k=5, which the agent clamps).
func uploadPage(t *testing.T, agent *client) {
	t.Helper()
	root := testenv.RepoRoot(t)
	script := filepath.Join(root, "agent", "testdata", "browser", "upload.mjs")
	chromium, cerr := exec.LookPath("chromium")
	node, nerr := exec.LookPath("node")
	_, merr := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "playwright-core"))
	if cerr != nil || nerr != nil || merr != nil {
		msg := "the /upload page check needs Debian's chromium, node and `npm ci` in agent/testdata/browser"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	photo := testenv.Data(t, "datasets", "hymenoptera", "val", "ants", "1124525276_816a07c17f.jpg")
	shot := filepath.Join(t.TempDir(), "upload.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, agent.BaseURL+"/upload", photo, shot)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node upload.mjs: %v\n%s\n%s", err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got struct {
		Top, Error string
		Rows       int
		Errors     []string
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if (got.Top != "ants" && got.Top != "bees") || got.Rows != 2 || got.Error != "" || len(got.Errors) > 0 {
		t.Errorf("the /upload page with a 2-label model: %+v, want ants or bees first of 2 rows, no error", got)
	}
	t.Logf("page: %+v; screenshot %s", got, shot)
}
