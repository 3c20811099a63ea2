package sdk

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store"
)

// fakeRuntime writes placeholder runtime files for p into a temp folder.
func fakeRuntime(t *testing.T, p Platform) string {
	dir := t.TempDir()
	for _, f := range p.RuntimeFiles() {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("runtime file "+f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWriteIsReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1765152000") // 2025-12-08T00:00:00Z
	pkg := filepath.Join(t.TempDir(), "package.tar.gz")
	if err := os.WriteFile(pkg, []byte("signed package"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range Platforms {
		t.Run(p.Name, func(t *testing.T) {
			o := Options{Platform: p, RuntimeDir: fakeRuntime(t, p),
				Model: Model{ID: "insects", Version: 3, Package: pkg, PublicKey: []byte("PEM")}}
			var a, b bytes.Buffer
			if err := Write(&a, o); err != nil {
				t.Fatal(err)
			}
			// a later build, files touched since: the same bytes
			time.Sleep(10 * time.Millisecond)
			if err := os.Chtimes(pkg, time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := Write(&b, o); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("two builds of the same SDK differ")
			}
			zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			want := time.Unix(1765152000, 0).UTC()
			for _, f := range zr.File {
				names = append(names, f.Name)
				if !f.Modified.Equal(want) {
					t.Errorf("%s dated %v, want the source date %v", f.Name, f.Modified, want)
				}
				if !strings.HasPrefix(f.Name, "autocv-sdk-insects-v3-"+p.Name+"/") {
					t.Errorf("%s is outside the SDK's folder", f.Name)
				}
				exec := f.Mode()&0o111 != 0
				base := filepath.Base(f.Name)
				if wantExec := base == p.Start || base == p.Agent() || base == p.Plugin() || strings.Contains(base, "onnxruntime"); exec != wantExec {
					t.Errorf("%s mode %v", f.Name, f.Mode())
				}
			}
			if !sort.StringsAreSorted(names) {
				t.Errorf("entries not sorted: %v", names)
			}
			if len(names) != len(p.RuntimeFiles())+4 {
				t.Errorf("entries %v: want the runtime, package.tar.gz, signing.pub, %s, README.txt", names, p.Start)
			}
		})
	}
}

func TestStartScriptListens(t *testing.T) {
	for _, tc := range []struct{ platform, want string }{
		{"linux-amd64", "${AUTOCV_LISTEN:-0.0.0.0:8987}"},
		{"linux-amd64-gpu", "${AUTOCV_LISTEN:-0.0.0.0:8987}"},
		{"linux-arm64", "${AUTOCV_LISTEN:-0.0.0.0:8987}"},
		{"windows-amd64", "set AUTOCV_LISTEN=127.0.0.1:8987\r\n"},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			p, err := Lookup(tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			s := StartScript(p)
			if !strings.Contains(s, tc.want) {
				t.Errorf("start script lacks %q:\n%s", tc.want, s)
			}
			if p.GOOS == "windows" {
				for _, r := range s {
					if r > 127 {
						t.Fatalf("start.bat holds %q: cmd.exe reads it in the console's code page", r)
					}
				}
			}
			r := Readme(p)
			if !strings.Contains(r, "/upload") || !strings.Contains(r, "curl") || !strings.Contains(r, "启动") || !strings.Contains(r, "Start") {
				t.Errorf("README lacks the start steps, the /upload page or the curl example in both languages")
			}
			if p.GPU != strings.Contains(r, "CUDA 13") {
				t.Errorf("README's GPU notes do not match the flavour")
			}
		})
	}
	if _, err := Lookup("darwin-arm64"); !errors.Is(err, ErrUnknownPlatform) || !strings.Contains(err.Error(), "linux-amd64-gpu") {
		t.Errorf("unknown platform: %v", err)
	}
}

func TestFindRuntime(t *testing.T) {
	p, _ := Lookup("windows-amd64")
	full := fakeRuntime(t, p)
	partial := t.TempDir()
	if err := os.WriteFile(filepath.Join(partial, p.Agent()), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := p.FindRuntime([]string{partial, full}); err != nil || got != full {
		t.Errorf("FindRuntime = %q, %v; want the complete folder %q", got, err, full)
	}
	_, err := p.FindRuntime([]string{partial})
	if err == nil || !strings.Contains(err.Error(), "autocv-plugin-onnx.exe, onnxruntime.dll") || !strings.Contains(err.Error(), "make dist") {
		t.Errorf("missing runtime: %v", err)
	}
	// the packages' and make dist's folders beside the binary, then bin/
	// itself for the host platform
	exe := filepath.Join("/opt", "autocv", "bin", "autocv-server")
	host := Platform{Name: runtime.GOOS + "-" + runtime.GOARCH, GOOS: runtime.GOOS, Arch: runtime.GOARCH}
	dirs := host.SearchDirs("/srv/sdk", exe)
	want := []string{
		filepath.Join("/srv/sdk", host.Name),
		filepath.Join("/opt/autocv/share/autocv/runtimes", host.Name),
		filepath.Join("/opt/autocv/bin/runtimes", host.Name),
		filepath.Join("/opt/autocv/dist/runtimes", host.Name),
		"/opt/autocv/bin",
	}
	if strings.Join(dirs, "\n") != strings.Join(want, "\n") {
		t.Errorf("SearchDirs:\n%s\nwant\n%s", strings.Join(dirs, "\n"), strings.Join(want, "\n"))
	}
}

// The store refuses an SDK build for a platform it does not list: the two
// lists must agree, or a request the API accepts fails with a 500.
func TestStoreKnowsEveryPlatform(t *testing.T) {
	got, want := slices.Sorted(slices.Values(store.SDKPlatforms)), slices.Sorted(slices.Values(Names()))
	if !slices.Equal(got, want) {
		t.Fatalf("store.SDKPlatforms %v, sdk platforms %v", got, want)
	}
}
