package backbones

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
)

// realFiles reads the pinned files from the shared test data.
func realFiles(t *testing.T) map[string][]byte {
	t.Helper()
	dir := testenv.Data(t, "backbones")
	out := map[string][]byte{}
	for _, f := range Pinned {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}

// loopback serves files under /<name> and counts requests; the pinned list
// it returns points at it.
func loopback(t *testing.T, files map[string][]byte, h http.HandlerFunc) ([]File, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return pointAt(srv.URL), &n
}

func pointAt(base string) []File {
	files := append([]File(nil), Pinned...)
	for i := range files {
		files[i].URL = base + "/" + files[i].Name
	}
	return files
}

// names lists a folder, temp files included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestFetchFromLoopback(t *testing.T) {
	real := realFiles(t)
	files, n := loopback(t, real, nil)
	dest := filepath.Join(t.TempDir(), "backbones")
	var logs []string
	opt := Options{Dest: dest, Files: files, Log: func(s string) { logs = append(logs, s) }}
	if err := Fetch(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	if !Complete(dest, files) || n.Load() != 3 {
		t.Fatalf("after fetch: complete %v, %d requests, files %v", Complete(dest, files), n.Load(), names(t, dest))
	}
	for _, f := range files {
		if !intact(filepath.Join(dest, f.Name), f) {
			t.Errorf("%s differs from its pin", f.Name)
		}
	}
	if got := names(t, dest); len(got) != 3 {
		t.Errorf("dest holds %v, want just the 3 files", got)
	}
	if len(logs) != 3 || !strings.Contains(logs[0], files[0].URL) {
		t.Errorf("logs %q: want one line per file naming its URL", logs)
	}
	// A second run finds everything in place and asks for nothing.
	if err := Fetch(context.Background(), opt); err != nil || n.Load() != 3 {
		t.Fatalf("second fetch: %v, %d requests in all", err, n.Load())
	}
	// A damaged file is fetched again.
	if err := os.WriteFile(filepath.Join(dest, files[1].Name), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Fetch(context.Background(), opt); err != nil || n.Load() != 4 || !intact(filepath.Join(dest, files[1].Name), files[1]) {
		t.Fatalf("refetch of a damaged file: %v, %d requests", err, n.Load())
	}
}

func TestFetchRefusesOtherBytes(t *testing.T) {
	real := realFiles(t)
	flipped := append([]byte(nil), real["shufflenet-v2-12-qdq.onnx"]...)
	flipped[1000] ^= 1
	cases := []struct {
		name, want string
		body       []byte
	}{
		{"sha256", "has sha256", flipped},
		{"short", "is 2415000 bytes, want 2415805", real["shufflenet-v2-12-qdq.onnx"][:2415000]},
		{"long", "is 2415806 bytes, want 2415805", append(append([]byte(nil), real["shufflenet-v2-12-qdq.onnx"]...), 'x')},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			served := map[string][]byte{}
			for k, v := range real {
				served[k] = v
			}
			served["shufflenet-v2-12-qdq.onnx"] = tc.body
			files, _ := loopback(t, served, nil)
			dest := t.TempDir()
			// A mirror holding the right file must not hide a source that
			// answered with other bytes.
			err := Fetch(context.Background(), Options{Dest: dest, Files: files, Mirror: testenv.Data(t, "backbones")})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), files[1].URL) ||
				!strings.Contains(err.Error(), "refusing it") {
				t.Fatalf("err = %v; want it to name the URL and say %q", err, tc.want)
			}
			if got := names(t, dest); len(got) != 1 || got[0] != files[0].Name {
				t.Errorf("dest holds %v; want only the good first file, no temp file", got)
			}
		})
	}
}

func TestFetchNamesFailingURL(t *testing.T) {
	t.Run("404", func(t *testing.T) {
		files, _ := loopback(t, map[string][]byte{}, nil)
		err := Fetch(context.Background(), Options{Dest: t.TempDir(), Files: files})
		if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "GET "+files[0].URL+": 404 Not Found") ||
			!strings.Contains(err.Error(), "AUTOCV_BACKBONES_FROM") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		files, _ := loopback(t, nil, func(w http.ResponseWriter, r *http.Request) {
			select { // hang until the client gives up or the test ends
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		dest := t.TempDir()
		start := time.Now()
		err := Fetch(context.Background(), Options{Dest: dest, Files: files, Client: &http.Client{Timeout: 300 * time.Millisecond}})
		if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), files[0].URL) || !strings.Contains(err.Error(), "Timeout") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %v", d)
		}
		if got := names(t, dest); len(got) != 0 {
			t.Errorf("dest holds %v after a timeout", got)
		}
	})
}

func TestFetchOfflineUsesMirror(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // connection refused: as offline as it gets on loopback
	files := pointAt(srv.URL)
	dest := t.TempDir()
	var logs []string
	err := Fetch(context.Background(), Options{Dest: dest, Files: files, Mirror: testenv.Data(t, "backbones"),
		Log: func(s string) { logs = append(logs, s) }})
	if err != nil || !Complete(dest, files) {
		t.Fatalf("offline with a mirror: %v, files %v", err, names(t, dest))
	}
	if len(logs) != 4 || !strings.Contains(logs[1], "copied from "+testenv.Data(t, "backbones")+" instead (download failed: ") ||
		!strings.Contains(logs[3], "(the network failed before)") {
		t.Errorf("logs %q do not say the mirror was used", logs)
	}
}

func TestFetchFrom(t *testing.T) {
	real := realFiles(t)
	tmp := t.TempDir()
	zipPath := filepath.Join(tmp, "backbones.zip")
	tgzPath := filepath.Join(tmp, "backbones.tar.gz")
	writeZip(t, zipPath, real)
	writeTarGz(t, tgzPath, real)
	// The network must not be asked: every URL points nowhere.
	files := pointAt("http://127.0.0.1:1")
	for _, from := range []string{testenv.Data(t, "backbones"), zipPath, tgzPath} {
		t.Run(filepath.Base(from), func(t *testing.T) {
			dest := t.TempDir()
			if err := Fetch(context.Background(), Options{Dest: dest, From: from, Files: files}); err != nil || !Complete(dest, files) {
				t.Fatalf("from %s: %v", from, err)
			}
		})
	}
	t.Run("missing member", func(t *testing.T) {
		part := filepath.Join(tmp, "part.zip")
		writeZip(t, part, map[string][]byte{"imagenet_classes.txt": real["imagenet_classes.txt"]})
		err := Fetch(context.Background(), Options{Dest: t.TempDir(), From: part, Files: files})
		if err == nil || !strings.Contains(err.Error(), "has no mobilenetv2-12-int8.onnx") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not an archive", func(t *testing.T) {
		err := Fetch(context.Background(), Options{Dest: t.TempDir(), From: filepath.Join(testenv.Data(t, "backbones"), "README.md"), Files: files})
		if err == nil || !strings.Contains(err.Error(), "want a folder or a .tar") {
			t.Fatalf("err = %v", err)
		}
	})
}

func writeZip(t *testing.T, p string, files map[string][]byte) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for name, b := range files {
		w, err := z.Create("backbones/" + name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(b)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func writeTarGz(t *testing.T, p string, files map[string][]byte) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "x/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(b)
	}
	tw.Close()
	gz.Close()
	f.Close()
}
