// Package build_test checks installers/build/glibc-floor.sh: binaries
// built with it need at most GLIBC_2.28 and still run.
package build_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

// floor is the newest glibc symbol version a shipped Linux binary may need.
var floor = [2]int{2, 28}

// The Linux binaries `make build` and `make dist` ship.
var mains = []string{"./plugins/onnx/cmd/autocv-plugin-onnx", "./trainer/cmd/autocv-trainer",
	"./agent/cmd/autocv-agent", "./controlplane/cmd/autocv-server", "./controlplane/cmd/autocv"}

// TestGLIBCFloor builds every Linux binary with the floor's settings and
// reads the versions each needs (.gnu.version_r), onnxruntime's library
// included; then runs the cgo ones.
func TestGLIBCFloor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux binaries only")
	}
	if testing.Short() {
		t.Skip("builds every binary (-short)")
	}
	root := testenv.RepoRoot(t)
	archs := []string{runtime.GOARCH}
	if runtime.GOARCH == "amd64" {
		if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err == nil {
			archs = append(archs, "arm64")
		} else {
			t.Log("linux/arm64 not checked: no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)")
		}
	}
	for _, arch := range archs {
		t.Run(arch, func(t *testing.T) {
			out := t.TempDir()
			pkgs := mains
			if arch != runtime.GOARCH {
				pkgs = mains[:2] // the cgo binaries; the others build with CGO_ENABLED=0 there
			}
			build(t, root, arch, out, pkgs)
			for _, p := range pkgs {
				checkFloor(t, filepath.Join(out, filepath.Base(p)))
			}
			if arch != runtime.GOARCH {
				if lib := filepath.Join(root, ".cache", "onnxruntime", "linux-"+arch, "libonnxruntime.so.1"); exists(lib) {
					checkFloor(t, lib)
				}
				runEmulated(t, arch, filepath.Join(out, "autocv-trainer"))
				return
			}
			// They still run: the trainer fetches backbones (offline), the
			// plugin starts and says it is a plugin.
			dest := filepath.Join(t.TempDir(), "bb")
			b, err := exec.Command(filepath.Join(out, "autocv-trainer"), "fetch-backbones", "--dest", dest, "--from", testenv.Data(t, "backbones")).CombinedOutput()
			if err != nil || !strings.Contains(string(b), "backbones ready") {
				t.Errorf("autocv-trainer fetch-backbones: %v\n%s", err, b)
			}
			b, _ = exec.Command(filepath.Join(out, "autocv-plugin-onnx")).CombinedOutput()
			if !strings.Contains(string(b), "plugin") {
				t.Errorf("autocv-plugin-onnx without a host: %s", b)
			}
		})
	}
	t.Run("onnxruntime", func(t *testing.T) { checkFloor(t, testenv.ORTLibrary(t)) })
}

// build sources the floor script for arch and builds pkgs into out.
func build(t *testing.T, root, arch, out string, pkgs []string) {
	t.Helper()
	script := `source installers/build/glibc-floor.sh "$1" && shift && ` +
		`go build -trimpath -ldflags "-s -w $GO_LDFLAGS_EXTRA" -o "$@"`
	args := append([]string{"-c", script, "floor", arch, out + "/"}, pkgs...)
	cmd := exec.Command("bash", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=1")
	if arch != runtime.GOARCH {
		cmd.Env = append(cmd.Env, "CC=aarch64-linux-gnu-gcc")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building with glibc-floor.sh for %s: %v\n%s", arch, err, b)
	}
}

// checkFloor fails when the ELF at path needs a GLIBC version above floor.
func checkFloor(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	needs, err := f.DynamicVersionNeeds()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var newest string
	for _, n := range needs {
		for _, d := range n.Needs {
			v, ok := strings.CutPrefix(d.Dep, "GLIBC_")
			if !ok {
				continue
			}
			if above(v, floor) {
				t.Errorf("%s needs %s from %s: above GLIBC_%d.%d", filepath.Base(path), d.Dep, n.Name, floor[0], floor[1])
			}
			if newest == "" || above(v, parse(newest)) {
				newest = v
			}
		}
	}
	t.Logf("%s: newest GLIBC version needed: %s", filepath.Base(path), newest)
}

// above reports whether glibc version v (e.g. "2.34", "2.2.5") is newer
// than major.minor.
func above(v string, mm [2]int) bool {
	p := parse(v)
	return p[0] > mm[0] || p[0] == mm[0] && p[1] > mm[1]
}

func parse(v string) [2]int {
	parts := strings.Split(v, ".")
	var out [2]int
	for i := 0; i < 2 && i < len(parts); i++ {
		out[i], _ = strconv.Atoi(parts[i])
	}
	return out
}

// runEmulated runs `BIN version` under qemu-user with the cross
// toolchain's glibc, when both are installed.
func runEmulated(t *testing.T, arch, bin string) {
	t.Helper()
	qemu, err := exec.LookPath("qemu-aarch64")
	sysroot := "/usr/aarch64-linux-gnu"
	if arch != "arm64" || err != nil || !exists(filepath.Join(sysroot, "lib", "libc.so.6")) {
		t.Logf("%s not run: no qemu-aarch64 or %s", filepath.Base(bin), sysroot)
		return
	}
	b, err := exec.Command(qemu, "-L", sysroot, bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "autocv-trainer") {
		t.Errorf("%s version under qemu-aarch64: %v\n%s", filepath.Base(bin), err, b)
	}
	t.Logf("under qemu-aarch64: %s", strings.TrimSpace(string(b)))
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestAbove(t *testing.T) {
	for v, want := range map[string]bool{"2.2.5": false, "2.17": false, "2.28": false, "2.29": true, "2.34": true, "3.0": true} {
		if got := above(v, floor); got != want {
			t.Errorf("above(%q, 2.28) = %v, want %v", v, got, want)
		}
	}
}
