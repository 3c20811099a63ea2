package preprocess

import (
	"encoding/json"
	"flag"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var (
	update  = flag.Bool("update", false, "rewrite the photo sums in testdata/golden_tensors.json")
	pilDump = flag.String("pil-dump", "", "write the PIL reference inputs as PNGs into this folder (see testdata/pil_reference.py)")
)

const goldenFile = "testdata/golden_tensors.json"

// golden is testdata/golden_tensors.json: sha256 sums (tensorSHA) of
// tensors. Photos are computed by this package (-update rewrites them); PIL
// sums come from testdata/pil_reference.py and are never rewritten by Go.
type golden struct {
	Note   string            `json:"note"`
	Photos map[string]string `json:"photos"`
	PIL    map[string]string `json:"pil"`
}

type goldenCase struct {
	name  string
	photo []string
	spec  func() Spec
	view  View
}

func goldenCases() []goldenCase {
	bgrNHWC := func() Spec { s := ImageNet(); s.BGR, s.NHWC = true, true; return s }
	jitter := View{Flip: true, Crop: Box{0.1, 0.2, 0.9, 0.85}, Brightness: 1.2, Contrast: 0.8, Saturation: 1.3}
	return []goldenCase{
		{"ants", photoAnts, ImageNet, View{}},
		{"bees", photoBees, ImageNet, View{}},
		{"daisy", photoDaisy, ImageNet, View{}},
		{"ants-view", photoAnts, ImageNet, jitter},
		{"daisy-corner", photoDaisy, ImageNet, View{Crop: Box{0.2, 0.2, 1, 1}}},
		{"bees-bgr-nhwc", photoBees, bgrNHWC, View{}},
	}
}

// pilCases are inputs whose exact pixels PIL can be given (PNG): the
// tensor must be bit-identical to torchvision's Resize(256) +
// CenterCrop(224) + ToTensor + Normalize ("stretch-" names: Resize((224,
// 224)) instead) on Pillow. "ants" is the Go-decoded JPEG.
func pilCases(t *testing.T) map[string]image.Image {
	ants, err := Decode(readPhoto(t, photoAnts))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]image.Image{
		"pattern-317x211":         pattern(317, 211),
		"pattern-211x317":         pattern(211, 317),
		"pattern-150x200":         pattern(150, 200), // upscaling
		"pattern-256x300":         pattern(256, 300), // shorter side already 256
		"pattern-1000x997":        pattern(1000, 997),
		"stretch-pattern-317x211": pattern(317, 211),
		"ants":                    ants,
	}
}

func readGolden(t *testing.T) golden {
	var g golden
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGoldenTensors proves "the same tensor everywhere": run it on every
// platform we ship (linux/windows, amd64/arm64); the sums must match.
func TestGoldenTensors(t *testing.T) {
	g := readGolden(t)
	got := map[string]string{}
	for _, tc := range goldenCases() {
		img, err := Decode(readPhoto(t, tc.photo))
		if err != nil {
			t.Fatal(err)
		}
		got[tc.name] = tensorSHA(tensorOf(t, tc.spec(), img, tc.view))
	}
	if *update {
		g.Photos = got
		data, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for name, sum := range got {
		if g.Photos[name] != sum {
			t.Errorf("%s on %s/%s: tensor sha256 %s, golden %s", name, runtime.GOOS, runtime.GOARCH, sum, g.Photos[name])
		}
	}
}

func TestMatchesPIL(t *testing.T) {
	g := readGolden(t)
	for name, img := range pilCases(t) {
		if *pilDump != "" {
			if err := os.WriteFile(filepath.Join(*pilDump, name+".png"), encodePNG(t, img), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := ImageNet()
		if strings.HasPrefix(name, "stretch-") {
			s = Spec{Size: 224, Mode: Stretch, Mean: s.Mean, Std: s.Std}
		}
		want, ok := g.PIL[name]
		if !ok {
			t.Errorf("%s: no PIL sum in %s", name, goldenFile)
			continue
		}
		if got := tensorSHA(tensorOf(t, s, img, View{})); got != want {
			t.Errorf("%s: tensor sha256 %s, PIL+torchvision gave %s", name, got, want)
		}
	}
}
