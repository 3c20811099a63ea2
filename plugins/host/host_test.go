//go:build unix

package host_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fixture is built once per test binary: the real plugin binary and signed
// packages wrapping the ImageNet backbones.
type fixture struct {
	binary       string
	mobilenet    string
	shufflenet   string
	pubPEM       []byte
	otherPubPEM  []byte
	unsignedPath string
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
	fixDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

func setup(t *testing.T) fixture {
	t.Helper()
	data := testenv.DataDir(t)
	lib := testenv.ORTLibrary(t)
	t.Setenv("ONNXRUNTIME_LIB", lib)
	fixOnce.Do(func() {
		fixDir, fixErr = os.MkdirTemp("", "autocv-host-test-")
		if fixErr != nil {
			return
		}
		fix.binary = testenv.GoBuild(t, "./plugins/onnx/cmd/autocv-plugin-onnx", nil)
		pub, priv, _ := ed25519.GenerateKey(nil)
		other, _, _ := ed25519.GenerateKey(nil)
		fix.pubPEM, _ = modelpkg.MarshalPublicKey(pub)
		fix.otherPubPEM, _ = modelpkg.MarshalPublicKey(other)
		fix.mobilenet = filepath.Join(fixDir, "mobilenet.tar.gz")
		fix.shufflenet = filepath.Join(fixDir, "shufflenet.tar.gz")
		fix.unsignedPath = filepath.Join(fixDir, "unsigned.tar.gz")
		for _, b := range []struct {
			bb   demopkg.Backbone
			key  ed25519.PrivateKey
			path string
		}{{demopkg.MobileNetV2, priv, fix.mobilenet}, {demopkg.ShuffleNet, priv, fix.shufflenet}, {demopkg.MobileNetV2, nil, fix.unsignedPath}} {
			if _, fixErr = demopkg.Build(data, b.bb, b.key, b.path); fixErr != nil {
				return
			}
		}
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func start(t *testing.T, f fixture, name string) *host.Plugin {
	t.Helper()
	p, err := host.Start(context.Background(), host.Config{Binary: f.binary, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func photo(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Data(t, strings.Split(rel, "/")...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The photos and classes listed in ../shared/data/backbones/README.md:
// top-1 where the README gives >= 0.9, within the top 3 otherwise.
var readmePhotos = []struct {
	path    string
	label   string
	minTop1 map[string]float32 // per backbone id: top-1 with at least this probability; absent = top 3
}{
	{"datasets/hymenoptera/val/ants/1124525276_816a07c17f.jpg", "ant",
		map[string]float32{"mobilenetv2-12-int8": 0.9, "shufflenet-v2-12-qdq": 0.9}},
	{"datasets/hymenoptera/val/bees/10870992_eebeeb3a12.jpg", "bee",
		map[string]float32{"shufflenet-v2-12-qdq": 0.9}},
	{"datasets/flowers5/daisy/10140303196_b88d3d6cec.jpg", "daisy",
		map[string]float32{"mobilenetv2-12-int8": 0.9, "shufflenet-v2-12-qdq": 0.9}},
}

func TestPredictRealPhotos(t *testing.T) {
	f := setup(t)
	p := start(t, f, inference.NameONNXCPU)
	ctx := context.Background()

	info := p.Info()
	if info.Kind != inference.NameONNXCPU || info.APIVersion != inference.APIVersion || !contains(info.ExecutionProviders, "cpu") {
		t.Fatalf("unexpected info %+v", info)
	}
	if _, err := p.Predict(ctx, inference.PredictRequest{Images: [][]byte{{1}}}); !errors.Is(err, inference.ErrNotLoaded) {
		t.Fatalf("predict before load: %v, want ErrNotLoaded", err)
	}

	for _, tc := range []struct {
		id, path string
	}{{"mobilenetv2-12-int8", f.mobilenet}, {"shufflenet-v2-12-qdq", f.shufflenet}} {
		t.Run(tc.id, func(t *testing.T) {
			m, err := p.Load(ctx, inference.LoadRequest{PackagePath: tc.path, TrustedKeys: [][]byte{f.pubPEM}})
			if err != nil {
				t.Fatal(err)
			}
			if m.ExecutionProvider != "cpu" || len(m.Labels) != 1000 {
				t.Fatalf("loaded %+v", m)
			}
			var images [][]byte
			for _, ph := range readmePhotos {
				images = append(images, photo(t, ph.path))
			}
			// a broken image in the batch fails alone
			images = append(images, []byte("GIF89a not really"))
			res, err := p.Predict(ctx, inference.PredictRequest{Images: images, TopK: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Predictions) != len(images) {
				t.Fatalf("%d predictions for %d images", len(res.Predictions), len(images))
			}
			for i, ph := range readmePhotos {
				pr := res.Predictions[i]
				if pr.Err != "" || len(pr.Labels) != 3 {
					t.Fatalf("%s: %+v", ph.path, pr)
				}
				t.Logf("%s: %s %.3f, %s %.3f, %s %.3f", filepath.Base(ph.path),
					pr.Labels[0].Label, pr.Labels[0].Confidence, pr.Labels[1].Label, pr.Labels[1].Confidence,
					pr.Labels[2].Label, pr.Labels[2].Confidence)
				if min, ok := ph.minTop1[tc.id]; ok {
					if pr.Labels[0].Label != ph.label || pr.Labels[0].Confidence < min {
						t.Errorf("%s: top-1 %s %.3f, want %s >= %.2f", ph.path, pr.Labels[0].Label, pr.Labels[0].Confidence, ph.label, min)
					}
				} else if !hasLabel(pr.Labels, ph.label) {
					t.Errorf("%s: %s not in top 3 %+v", ph.path, ph.label, pr.Labels)
				}
			}
			if last := res.Predictions[len(images)-1]; last.Err == "" || len(last.Labels) != 0 {
				t.Errorf("GIF bytes were classified: %+v", last)
			}
			h, err := p.Health(ctx)
			if err != nil || !h.Loaded || h.ModelID != m.ID {
				t.Fatalf("health %+v %v", h, err)
			}
		})
	}

	// Past the first chunk of a request, a bad image's error still names
	// its place in the whole request.
	if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}, MaxBatch: 2}); err != nil {
		t.Fatal(err)
	}
	ant := photo(t, readmePhotos[0].path)
	res, err := p.Predict(ctx, inference.PredictRequest{Images: [][]byte{ant, ant, ant, ant, []byte("not an image"), ant}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Predictions[4].Err; !strings.HasPrefix(e, "image 5:") {
		t.Errorf("the 5th image (third chunk of 2) failed with %q, want it named \"image 5:\"", e)
	}
	if res.Predictions[5].Err != "" || len(res.Predictions[5].Labels) == 0 {
		t.Errorf("the image after the bad one: %+v", res.Predictions[5])
	}
}

func TestLoadRejects(t *testing.T) {
	f := setup(t)
	p := start(t, f, inference.NameONNXCPU)
	ctx := context.Background()
	cases := []struct {
		name string
		req  inference.LoadRequest
		want error
	}{
		{"no trusted key", inference.LoadRequest{PackagePath: f.mobilenet}, inference.ErrBadRequest},
		{"signed by another key", inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.otherPubPEM}}, inference.ErrBadPackage},
		{"unsigned package", inference.LoadRequest{PackagePath: f.unsignedPath, TrustedKeys: [][]byte{f.pubPEM}}, inference.ErrBadPackage},
		{"not a package", inference.LoadRequest{PackageBytes: []byte("hello"), TrustedKeys: [][]byte{f.pubPEM}}, inference.ErrBadPackage},
		{"missing file", inference.LoadRequest{PackagePath: "/nonexistent.tar.gz", TrustedKeys: [][]byte{f.pubPEM}}, inference.ErrBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Load(ctx, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
	// unsigned packages load only when the host allows it explicitly
	if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: f.unsignedPath, AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
}

// onnx-cuda on a machine without CUDA (and with the CPU-only npm library)
// must say so, and auto must fall back to cpu.
func TestCUDAUnavailable(t *testing.T) {
	f := setup(t)
	p := start(t, f, inference.NameONNXCUDA)
	ctx := context.Background()
	_, err := p.Load(ctx, inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}})
	if err == nil {
		t.Skip("CUDA works on this machine")
	}
	if !errors.Is(err, inference.ErrUnavailable) || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("got %v, want ErrUnavailable naming cuda", err)
	}
	t.Log(err)
	m, err := p.Load(ctx, inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}, ExecutionProvider: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if m.ExecutionProvider != "cpu" {
		t.Fatalf("auto runs on %q, want cpu", m.ExecutionProvider)
	}
}

func TestKilledPlugin(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	p := start(t, f, inference.NameONNXCPU)
	if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}}); err != nil {
		t.Fatal(err)
	}
	img := photo(t, readmePhotos[0].path)
	if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !p.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err := p.Predict(ctx, inference.PredictRequest{Images: [][]byte{img}})
	if !errors.Is(err, inference.ErrPluginGone) {
		t.Fatalf("predict on a killed plugin: %v, want ErrPluginGone", err)
	}
	t.Log(err)

	q := start(t, f, inference.NameONNXCPU)
	if _, err := q.Load(ctx, inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}}); err != nil {
		t.Fatal(err)
	}
	res, err := q.Predict(ctx, inference.PredictRequest{Images: [][]byte{img}})
	if err != nil || res.Predictions[0].Labels[0].Label != "ant" {
		t.Fatalf("new plugin: %+v %v", res, err)
	}
}

func TestStartErrors(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if _, err := host.Start(ctx, host.Config{Binary: filepath.Join(t.TempDir(), "nope")}); !errors.Is(err, host.ErrStart) {
		t.Fatalf("missing binary: %v", err)
	}
	if _, err := host.Start(ctx, host.Config{Binary: f.binary, Name: "tensorflow"}); !errors.Is(err, host.ErrStart) {
		t.Fatalf("unknown name: %v", err)
	}
	// a binary that is not a plugin
	if _, err := host.Start(ctx, host.Config{Binary: "/bin/true", StartTimeout: 5 * time.Second}); !errors.Is(err, host.ErrStart) {
		t.Fatalf("/bin/true: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasLabel(labels []inference.Label, want string) bool {
	for _, l := range labels {
		if l.Label == want {
			return true
		}
	}
	return false
}

// make build and the installers put the onnxruntime library beside the
// binaries: with ONNXRUNTIME_LIB unset, the plugin must find it there.
func TestLibraryBesideBinary(t *testing.T) {
	f := setup(t)
	lib := testenv.ORTLibrary(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, host.BinaryName())
	if err := os.Link(f.binary, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lib, filepath.Join(dir, filepath.Base(lib))); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ONNXRUNTIME_LIB", "")
	p, err := host.Start(context.Background(), host.Config{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if _, err := p.Load(context.Background(), inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}}); err != nil {
		t.Fatal(err)
	}

	// and without it anywhere, the error names the variable to set
	empty := t.TempDir()
	bare := filepath.Join(empty, host.BinaryName())
	if err := os.Link(f.binary, bare); err != nil {
		t.Fatal(err)
	}
	_, err = host.Start(context.Background(), host.Config{Binary: bare})
	if err == nil {
		t.Skip("onnxruntime is installed system-wide here")
	}
	if !strings.Contains(err.Error(), "ONNXRUNTIME_LIB") {
		t.Fatalf("error does not say how to point at the library: %v", err)
	}
	t.Log(err)
}

// A package whose golden samples do not reproduce here (a different
// runtime, drifted preprocessing, a tampered expectation) must not load.
func TestGoldenMismatchRefused(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	pubPEM, _ := modelpkg.MarshalPublicKey(pub)

	dir := filepath.Join(t.TempDir(), "x")
	pkg, err := modelpkg.ReadFile(f.mobilenet, modelpkg.ReadOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	golden := map[string][]byte{}
	for _, g := range pkg.Manifest.Golden {
		if golden[g.File], err = pkg.Golden(g.File); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		tamper func(m *modelpkg.Manifest)
	}{
		{"top-1", func(m *modelpkg.Manifest) { m.Golden[0].ExpectedTop1 = "bee" }},
		{"probabilities", func(m *modelpkg.Manifest) {
			p := append([]float32(nil), m.Golden[1].Probabilities...)
			p[985] -= 0.01 // daisy
			m.Golden[1].Probabilities = p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := *pkg.Manifest
			m.Golden = append([]modelpkg.Golden(nil), m.Golden...)
			tc.tamper(&m)
			path := filepath.Join(t.TempDir(), "tampered.tar.gz")
			b := modelpkg.Builder{Manifest: m, ModelPath: pkg.ModelPath(), Golden: golden, Key: priv}
			if _, err := b.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			p := start(t, f, inference.NameONNXCPU)
			_, err := p.Load(ctx, inference.LoadRequest{PackagePath: path, TrustedKeys: [][]byte{pubPEM}})
			if !errors.Is(err, inference.ErrBadPackage) || !strings.Contains(err.Error(), "golden") {
				t.Fatalf("got %v, want ErrBadPackage naming the golden sample", err)
			}
			t.Log(err)
			if h, _ := p.Health(ctx); h.Loaded {
				t.Fatal("a model that failed its self-test is loaded")
			}
		})
	}
}

func TestProviderMatchesPluginName(t *testing.T) {
	f := setup(t)
	p := start(t, f, inference.NameONNXCPU)
	for _, ep := range []string{"cuda", "auto"} {
		_, err := p.Load(context.Background(), inference.LoadRequest{PackagePath: f.mobilenet, TrustedKeys: [][]byte{f.pubPEM}, ExecutionProvider: ep})
		if !errors.Is(err, inference.ErrBadRequest) {
			t.Fatalf("onnx-cpu asked for %s: %v, want ErrBadRequest", ep, err)
		}
	}
}
