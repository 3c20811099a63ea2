// Package installers_test checks what `make dist` ships the way a user
// meets it: offline SDKs unzipped into awkward paths and started with their
// own scripts (Linux natively, Windows under wine), the .deb unpacked into
// a throwaway root and linted, the MSI's tables.
package installers_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/autocv/autocv/controlplane/sdk"
	"github.com/autocv/autocv/internal/testenv"
)

// shared are the folders the tests of this binary share (runtimes, the
// trained package); TestMain removes them.
var shared struct {
	mu   sync.Mutex
	dirs []string
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range shared.dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// sharedDir makes a folder that lives as long as the test binary.
func sharedDir(prefix string) (string, error) {
	d, err := os.MkdirTemp("", prefix)
	if err == nil {
		shared.mu.Lock()
		shared.dirs = append(shared.dirs, d)
		shared.mu.Unlock()
	}
	return d, err
}

// runtimes caches one runtime folder per platform for the test binary.
var runtimes struct {
	mu   sync.Mutex
	dirs map[string]string
}

// runtimeDir builds the agent and the plugin for platform with
// installers/build/binaries.sh (the cross compilers make dist uses) and
// puts the onnxruntime files `make deps` fetched beside them.
func runtimeDir(t *testing.T, platform string) (sdk.Platform, string) {
	t.Helper()
	p, err := sdk.Lookup(platform)
	if err != nil {
		t.Fatal(err)
	}
	runtimes.mu.Lock()
	defer runtimes.mu.Unlock()
	if d, ok := runtimes.dirs[platform]; ok {
		return p, d
	}
	root := testenv.RepoRoot(t)
	cache := filepath.Join(root, ".cache", "onnxruntime", platform)
	for _, lib := range p.Libs {
		if _, err := os.Stat(filepath.Join(cache, lib)); err != nil {
			missingf(t, "%s is not fetched (run `make deps`, or installers/onnxruntime/fetch-gpu.sh for the GPU flavour): %v", lib, err)
		}
	}
	if p.GOOS == "windows" {
		testenv.Tool(t, "x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")
	}
	dir, err := sharedDir("autocv-runtime-" + platform + "-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "installers", "build", "binaries.sh"), p.GOOS, p.Arch, dir, "agent", "plugin")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the %s runtime: %v\n%s", platform, err, out)
	}
	for _, lib := range p.Libs {
		copyFile(t, filepath.Join(cache, lib), filepath.Join(dir, lib))
	}
	if runtimes.dirs == nil {
		runtimes.dirs = map[string]string{}
	}
	runtimes.dirs[platform] = dir
	return p, dir
}

var trained struct {
	once     sync.Once
	pkg, pub string
	err      error
}

// trainedPackage trains a two-label model (ants, bees) on hymenoptera's
// train folder with the real trainer and returns its signed package and
// public key.
func trainedPackage(t *testing.T) (pkg, pub string) {
	t.Helper()
	bin := testenv.GoBuild(t, "./trainer/cmd/autocv-trainer", nil)
	data := testenv.Data(t, "datasets", "hymenoptera", "train")
	backbones := testenv.Data(t, "backbones")
	lib := testenv.ORTLibrary(t)
	trained.once.Do(func() {
		dir, err := sharedDir("autocv-installers-train-")
		if err != nil {
			trained.err = err
			return
		}
		out := filepath.Join(dir, "out")
		cmd := exec.Command(bin, "train", "--data", data, "--out", out, "--type", "general")
		cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+lib, "AUTOCV_BACKBONES="+backbones,
			"AUTOCV_CACHE_DIR="+filepath.Join(os.TempDir(), "autocv-test-features"), "XDG_CONFIG_HOME="+dir)
		if b, err := cmd.CombinedOutput(); err != nil {
			trained.err = fmt.Errorf("training: %v\n%s", err, b)
			return
		}
		trained.pkg, trained.pub = filepath.Join(out, "package.tar.gz"), filepath.Join(out, "signing.pub")
	})
	if trained.err != nil {
		t.Fatal(trained.err)
	}
	return trained.pkg, trained.pub
}

// unzipSDK builds the SDK zip for p with the control plane's code and
// unzips it under a folder whose name holds spaces and Chinese characters.
// It returns the SDK's folder.
func unzipSDK(t *testing.T, p sdk.Platform, runtime string) string {
	t.Helper()
	pkg, pub := trainedPackage(t)
	key, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	o := sdk.Options{Platform: p, RuntimeDir: runtime, Model: sdk.Model{ID: "insects", Version: 1, Package: pkg, PublicKey: key}}
	if err := sdk.Write(&zipped, o); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s SDK: %.1f MB", p.Name, float64(zipped.Len())/1e6)
	dest := filepath.Join(t.TempDir(), "离线 SDK 测试 dir")
	zr, err := zip.NewReader(bytes.NewReader(zipped.Bytes()), int64(zipped.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		path := filepath.Join(dest, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(path, dest+string(filepath.Separator)) {
			t.Fatalf("zip entry %s escapes the folder", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm())
		if err == nil {
			_, err = io.Copy(w, rc)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dest, strings.TrimSuffix(o.Root(), "/"))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// missingf skips outside CI and fails under CI=true, where every tool and
// file the installers need is installed by .ci/run.
func missingf(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
