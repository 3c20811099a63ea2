package e2e_test

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

// TestConsoleBrowser walks the embedded console in Debian's Chromium
// (playwright-core from the console's lock file) through every flow in
// zh-CN and en (e2e/console.mjs says which): import a dataset, train a
// cloud and an offline version, read the report, validate a photo,
// publish a service and an SDK, devices and API keys, hostile names, phone
// width. It needs the console built (make console; make test does it) and
// npm ci run in its web folder.
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
	// The offline SDK is built from the runtimes beside the server: the
	// harness builds the server, trainer and plugin there; the agent is
	// added so 生成 SDK can build and download a real linux-amd64 zip.
	build := exec.Command("go", "build", "-o", binaries(t), "./agent/cmd/autocv-agent")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building autocv-agent for the SDK: %v\n%s", err, out)
	}
	s := startServer(t, serverOpts{trainers: 1})
	// The zip adds hostile names the import skips and the console must
	// show as text: a file and a label folder that look like HTML.
	zipPath := filepath.Join(t.TempDir(), "hymenoptera.zip")
	zipBytes := withEntries(t, zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"), map[string]string{
		"hymenoptera/ants/<img src=x onerror=window.__xss=1>.txt": "not an image",
		"hymenoptera/<script>/a.jpg":                              "not an image either",
	})
	if err := os.WriteFile(zipPath, zipBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	notZip := filepath.Join(t.TempDir(), "photos.txt")
	if err := os.WriteFile(notZip, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(web, "e2e", "console.mjs"))
	cmd.Env = append(os.Environ(), "AUTOCV_URL="+s.URL, "AUTOCV_ADMIN_PASSWORD="+adminPassword, "AUTOCV_ZIP="+zipPath,
		"AUTOCV_IMAGE="+testenv.Data(t, "datasets", "hymenoptera", "val", "ants", "10308379_1b6c72e180.jpg"),
		"AUTOCV_IMAGE_LABEL=ants", "AUTOCV_NOTZIP="+notZip, "AUTOCV_TRAIN_TIMEOUT_S=420",
		"AUTOCV_SDK_EXPECT=ready") // the agent is built above, so the linux-amd64 SDK must build
	if d := os.Getenv("AUTOCV_SHOTS"); d != "" {
		cmd.Env = append(cmd.Env, "AUTOCV_SHOTS="+d)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("console walk-through failed: %v\n%s", err, out)
	}
	t.Logf("%s", tail(string(out), 2000))
}

// withEntries returns the zip z with extra text files added.
func withEntries(t *testing.T, z []byte, extra map[string]string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		w, err := zw.Create(name)
		if err == nil {
			_, err = w.Write([]byte(body))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
