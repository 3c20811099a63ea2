package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

// TestConsoleBrowser walks the embedded console in Debian's Chromium
// (playwright-core from the console's lock file): log in, import a dataset,
// train, read the report, validate a photo. It needs the console built
// (make console; make test does it) and npm ci run in its web folder.
func TestConsoleBrowser(t *testing.T) {
	root := testenv.RepoRoot(t)
	web := filepath.Join(root, "controlplane", "console", "web")
	need := func(what, path string) {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (%s): run make console", what, path)
			}
			t.Skipf("%s missing (%s): run make console", what, path)
		}
	}
	need("the built console", filepath.Join(root, "controlplane", "console", "dist", "app", "index.html"))
	need("playwright-core", filepath.Join(web, "node_modules", "playwright-core"))
	need("chromium", "/usr/bin/chromium")
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not installed")
		}
		t.Skip("node not installed")
	}
	s := startServer(t, serverOpts{trainers: 1})
	zipPath := filepath.Join(t.TempDir(), "hymenoptera.zip")
	if err := os.WriteFile(zipPath, zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(web, "e2e", "console.mjs"))
	cmd.Env = append(os.Environ(), "AUTOCV_URL="+s.URL, "AUTOCV_ADMIN_PASSWORD="+adminPassword, "AUTOCV_ZIP="+zipPath,
		"AUTOCV_IMAGE="+testenv.Data(t, "datasets", "hymenoptera", "val", "ants", "10308379_1b6c72e180.jpg"),
		"AUTOCV_IMAGE_LABEL=ants", "AUTOCV_TRAIN_TIMEOUT_S=240")
	if d := os.Getenv("AUTOCV_SHOTS"); d != "" {
		cmd.Env = append(cmd.Env, "AUTOCV_SHOTS="+d)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("console walk-through failed: %v\n%s", err, out)
	}
	t.Logf("%s", tail(string(out), 2000))
}
