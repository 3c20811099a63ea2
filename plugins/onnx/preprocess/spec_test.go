package preprocess

import (
	"errors"
	"testing"

	"github.com/autocv/autocv/protocol/modelpkg"
)

func TestSpecFromManifest(t *testing.T) {
	in := ImageNet().Preprocess()
	want := modelpkg.Preprocess{InputSize: 224, ResizeMode: modelpkg.ResizeShorterCrop, Resize: 256, Crop: 224,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}, ChannelOrder: "RGB", Layout: "NCHW"}
	if in != want {
		t.Fatalf("ImageNet().Preprocess() = %+v, want %+v", in, want)
	}
	for _, s := range []Spec{ImageNet(), {Size: 96, Mode: Stretch, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{1, 1, 1}, BGR: true, NHWC: true}} {
		got, err := SpecFrom(s.Preprocess())
		if err != nil || got != s {
			t.Errorf("round trip of %+v: got %+v, %v", s, got, err)
		}
	}
	bad := map[string]func(p *modelpkg.Preprocess){
		"crop differs":      func(p *modelpkg.Preprocess) { p.Crop = 200 },
		"unknown mode":      func(p *modelpkg.Preprocess) { p.ResizeMode = "letterbox" },
		"empty mode":        func(p *modelpkg.Preprocess) { p.ResizeMode = "" },
		"lowercase order":   func(p *modelpkg.Preprocess) { p.ChannelOrder = "rgb" },
		"unknown layout":    func(p *modelpkg.Preprocess) { p.Layout = "CHW" },
		"resize below crop": func(p *modelpkg.Preprocess) { p.Resize = 200 },
		"zero size":         func(p *modelpkg.Preprocess) { p.InputSize, p.Crop = 0, 0 },
		"zero std":          func(p *modelpkg.Preprocess) { p.Std[1] = 0 },
		"huge size":         func(p *modelpkg.Preprocess) { p.InputSize, p.Crop, p.Resize = 5000, 5000, 6000 },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			p := ImageNet().Preprocess()
			mutate(&p)
			if _, err := SpecFrom(p); !errors.Is(err, ErrSpec) {
				t.Errorf("got %v, want ErrSpec", err)
			}
		})
	}
	// Crop 0 means "the input size"; stretch ignores Resize.
	p := ImageNet().Preprocess()
	p.Crop = 0
	if s, err := SpecFrom(p); err != nil || s != ImageNet() {
		t.Errorf("crop 0: %+v %v", s, err)
	}
}
