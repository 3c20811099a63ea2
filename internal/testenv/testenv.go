// Package testenv finds what tests need outside the repository: the shared
// test data (real photos and backbones) and the onnxruntime library.
//
// Tests never write into the test data. Under CI=true missing data fails the
// test instead of skipping it, so CI cannot pass by testing nothing.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the repository root: the folder holding go.mod, found
// by walking up from the test's working directory (its package folder).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// DataDir returns the shared test data folder: $AUTOCV_TESTDATA, or
// ../shared/data from the repository root.
func DataDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("AUTOCV_TESTDATA")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(dir, "backbones")); err != nil {
		missing(t, "test data not found at %s (set AUTOCV_TESTDATA): %v", dir, err)
	}
	return dir
}

// Data returns the path of a file under the shared test data folder and
// checks that it exists.
func Data(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{DataDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		missing(t, "test data file missing: %v", err)
	}
	return p
}

// ORTLibrary returns the onnxruntime shared library for tests:
// $ONNXRUNTIME_LIB, or the one `make deps` put in the cache.
func ORTLibrary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("ONNXRUNTIME_LIB")
	if p == "" {
		name := "libonnxruntime.so.1"
		if runtime.GOOS == "windows" {
			name = "onnxruntime.dll"
		}
		p = filepath.Join(RepoRoot(t), ".cache", "onnxruntime", runtime.GOOS+"-"+runtime.GOARCH, name)
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, "onnxruntime library not found (run `make deps` or set ONNXRUNTIME_LIB): %v", err)
	}
	return p
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Tool returns the path of a command the test needs (e.g. qemu-x86_64),
// skipping the test when it is not installed, failing under CI=true; pkg
// names the Debian package that brings it.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}
