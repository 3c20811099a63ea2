package modelpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Fixed keys so that packages, and so fuzz seeds, are reproducible.
func testKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func otherKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// testManifest is a valid manifest without Members.
func testManifest() Manifest {
	return Manifest{
		Schema:    SchemaVersion,
		ModelID:   "flowers-1",
		Version:   3,
		CreatedAt: "2026-11-25T10:00:00Z",
		Labels:    []string{"daisy", "rose", "向日葵"},
		Backbone:  "mobilenetv2-12",
		AppType:   "offline-general",
		Preprocess: Preprocess{
			InputSize: 224, ResizeMode: ResizeShorterCrop, Resize: 256, Crop: 224,
			Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
			ChannelOrder: ChannelsRGB, Layout: LayoutNCHW,
		},
		IO:         IO{Input: "input", Output: "probabilities", OutputKind: OutputProbabilities, FixedBatch: 1},
		Runtime:    Runtime{Opset: 17, ExecutionProviders: []string{"cpu"}},
		Thresholds: Thresholds{Global: 0.5, PerLabel: map[string]float64{"rose": 0.6}},
		Golden: []Golden{
			{File: "golden/0.jpg", ExpectedTop1: "daisy", Probabilities: []float32{0.9, 0.05, 0.05}},
			{File: "golden/1.png", ExpectedTop1: "rose", Probabilities: []float32{0.1, 0.8, 0.1}},
		},
		Metrics: Metrics{Accuracy: 0.9, Precision: 0.88, Recall: 0.87, F1: 0.875, Metric: "f1"},
	}
}

var (
	fakeModel  = []byte("\x08\x07\x12\x07pytorch fake onnx graph bytes \x00\x01\x02\x03")
	fakeData   = bytes.Repeat([]byte{0x3f, 0x80, 0, 0}, 32)
	fakeReport = []byte(`{"metrics":{"accuracy":0.9}}`)
	fakeGolden = map[string][]byte{
		"golden/0.jpg": []byte("\xff\xd8\xff\xe0 fake jpeg"),
		"golden/1.png": []byte("\x89PNG\r\n\x1a\n fake png"),
	}
)

// testBuilder returns a Builder for a valid package whose model files lie in
// a fresh temp dir; key may be nil.
func testBuilder(t testing.TB, key ed25519.PrivateKey) *Builder {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, ModelName)
	if err := os.WriteFile(model, fakeModel, 0o644); err != nil {
		t.Fatal(err)
	}
	return &Builder{
		Manifest:  testManifest(),
		ModelPath: model,
		Report:    fakeReport,
		Golden:    fakeGolden,
		Key:       key,
	}
}

func buildBytes(t testing.TB, b *Builder) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := b.Build(&buf); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return buf.Bytes()
}

// entry is one hand-made tar entry. Typeflag 0 means a regular file; Size
// -1 means len(Data).
type entry struct {
	Name     string
	Data     []byte
	Typeflag byte
	Linkname string
	Size     int64
}

func reg(name string, data []byte) entry { return entry{Name: name, Data: data, Size: -1} }

// makeTar writes entries as a tar stream, whatever they say.
func makeTar(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, Typeflag: e.Typeflag, Linkname: e.Linkname, Size: e.Size}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Size < 0 {
			h.Size = int64(len(e.Data))
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.Name, err)
		}
		if _, err := tw.Write(e.Data); err != nil && !errors.Is(err, tar.ErrWriteTooLong) {
			t.Fatalf("tar write %q: %v", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeArchive(t testing.TB, entries []entry) []byte {
	t.Helper()
	return gzipBytes(t, makeTar(t, entries))
}

// entriesOf unpacks a package into entries for tests to tamper with.
func entriesOf(t testing.TB, pkg []byte) []entry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(pkg))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, reg(h.Name, data))
	}
}

// listTree returns every path under dir, relative and slash-separated.
func listTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func mustEncode(t testing.TB, m *Manifest) []byte {
	t.Helper()
	data, err := EncodeManifest(m)
	if err != nil {
		t.Fatalf("EncodeManifest: %v", err)
	}
	return data
}

var sentinels = []error{ErrSchema, ErrInvalid, ErrHash, ErrSignature, ErrUnlisted, ErrMissing,
	ErrDuplicate, ErrUnsafePath, ErrTooLarge, ErrCorrupt, ErrKey}

func hasSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func mustUnmarshal(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// mustJSON encodes v without validating it.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}
