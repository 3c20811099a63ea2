//go:build unix

package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
)

// TestUploadPageInChromium opens the real agent's /upload page in headless
// Chromium (Debian's chromium, driven by playwright-core from npm), picks a
// real ant photo and checks the page shows "ant" as the top label; then
// the same with an API key, which the page asks for. Screenshots go to the
// test's temp folder (-v prints where). .ci/run installs chromium and
// runs npm ci in agent/testdata/browser; without them the test skips
// (fails under CI=true).
func TestUploadPageInChromium(t *testing.T) {
	chromium, node, script := browserTools(t)
	f := setup(t)
	photo := filepath.Join(f.data, antPhoto)
	for _, tc := range []struct{ name, key string }{
		{"open", ""},
		{"with API key", "browser-test-key-0123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"serve", "--package", f.pkg, "--listen", "127.0.0.1:0"}
			if tc.key != "" {
				args = append(args, "--api-key", tc.key)
			}
			a := f.startAgent(t, args...)
			a.waitHealthy(t, 90*time.Second)

			shot := filepath.Join(t.TempDir(), "upload.png")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script, a.url+"/upload", photo, shot)
			cmd.Dir = filepath.Dir(script)
			cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "AUTOCV_API_KEY="+tc.key)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node upload.mjs: %v\n%s\n%s\nagent:\n%s", err, out, stderr.String(), a.stderr)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			var got struct {
				Top, Confidence, Error, Name, Model string
				Rows                                int
				AskedForKey                         bool
				Errors                              []string
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			t.Logf("page: %+v; screenshot %s", got, shot)
			if got.Top != "ant" || got.Error != "" || got.Rows != 5 || got.Name != filepath.Base(photo) {
				t.Errorf("result card: top %q (%s), %d rows, error %q, file %q; want ant first of 5 for %s",
					got.Top, got.Confidence, got.Rows, got.Error, got.Name, filepath.Base(photo))
			}
			if !strings.Contains(got.Model, f.manifest.ModelID) {
				t.Errorf("model line %q lacks %s", got.Model, f.manifest.ModelID)
			}
			if got.AskedForKey != (tc.key != "") {
				t.Errorf("page asked for the key: %v", got.AskedForKey)
			}
			// A 401 logged by the browser before the key was entered is expected.
			for _, e := range got.Errors {
				if !(tc.key != "" && strings.Contains(e, "401")) {
					t.Errorf("browser error: %s", e)
				}
			}
			if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
				t.Errorf("screenshot %s: %v", shot, err)
			}
		})
	}
}

// browserTools finds chromium ($AUTOCV_CHROMIUM or /usr/bin/chromium),
// node and the npm-installed playwright-core, or skips (fails under
// CI=true) saying what is missing.
func browserTools(t *testing.T) (chromium, node, script string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if testing.Short() {
		t.Skip("browser test starts Chromium; skipped with -short")
	}
	chromium = os.Getenv("AUTOCV_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("chromium not found (apt-get install chromium, or set AUTOCV_CHROMIUM): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found (apt-get install nodejs npm): %v", err)
	}
	dir := filepath.Join(testenv.RepoRoot(t), "agent", "testdata", "browser")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing("playwright-core not installed (cd agent/testdata/browser && npm ci): %v", err)
	}
	return chromium, node, filepath.Join(dir, "upload.mjs")
}
