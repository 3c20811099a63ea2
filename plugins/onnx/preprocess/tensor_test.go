package preprocess

import (
	"errors"
	"image"
	"image/color"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestConstantColourIsExact(t *testing.T) {
	colours := []color.NRGBA{{0, 0, 0, 255}, {255, 255, 255, 255}, {12, 200, 77, 255}, {128, 128, 128, 255}}
	sizes := []image.Point{{500, 375}, {375, 500}, {256, 256}, {100, 60}, {3000, 20}, {1, 1}}
	specs := map[string]Spec{"imagenet": ImageNet(), "stretch": {Size: 32, Mode: Stretch, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.25, 0.5, 1}}}
	for name, s := range specs {
		for _, sz := range sizes {
			for _, c := range colours {
				got := tensorOf(t, s, uniform(sz.X, sz.Y, c), View{})
				plane := s.Size * s.Size
				for ch, v := range [3]uint8{c.R, c.G, c.B} {
					want := expected(s, ch, v)
					for i, g := range got[ch*plane : (ch+1)*plane] {
						if g != want {
							t.Fatalf("%s %v colour %v channel %d index %d: got %v, want %v", name, sz, c, ch, i, g, want)
						}
					}
				}
			}
		}
	}
}

// halves is w×h, red on the left half and blue on the right.
func halves(w, h int) *image.NRGBA {
	img := uniform(w, h, color.NRGBA{0, 0, 255, 255})
	for y := range h {
		for x := range w / 2 {
			copy(img.Pix[y*img.Stride+4*x:], []uint8{255, 0, 0, 255})
		}
	}
	return img
}

func TestLayoutOrderAndFlip(t *testing.T) {
	img := halves(64, 48)
	red, blue := [3]uint8{255, 0, 0}, [3]uint8{0, 0, 255}
	cases := []struct {
		name      string
		bgr, nhwc bool
		flip      bool
	}{
		{"nchw-rgb", false, false, false},
		{"nchw-rgb-flip", false, false, true},
		{"nhwc-rgb", false, true, false},
		{"nchw-bgr", true, false, false},
		{"nhwc-bgr-flip", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ImageNet()
			s.BGR, s.NHWC = tc.bgr, tc.nhwc
			got := tensorOf(t, s, img, View{Flip: tc.flip})
			n := s.Size
			at := func(c, y, x int) float32 {
				if s.NHWC {
					return got[(y*n+x)*3+c]
				}
				return got[c*n*n+y*n+x]
			}
			left, right := red, blue
			if tc.flip {
				left, right = blue, red
			}
			for _, p := range []struct {
				x   int
				rgb [3]uint8
			}{{5, left}, {100, left}, {124, right}, {n - 1, right}} {
				for c := range 3 {
					src := c
					if s.BGR {
						src = 2 - c
					}
					want := expected(s, c, p.rgb[src])
					if g := at(c, 50, p.x); g != want {
						t.Errorf("channel %d x %d: got %v, want %v", c, p.x, g, want)
					}
				}
			}
		})
	}
}

func TestZeroViewEqualsTensor(t *testing.T) {
	s := ImageNet()
	img := pattern(317, 211)
	plain := tensorOf(t, s, img, View{})
	for _, v := range []View{{Crop: Box{0, 0, 1, 1}}, {Brightness: 1, Contrast: 1, Saturation: 1}} {
		if got := tensorOf(t, s, img, v); tensorSHA(got) != tensorSHA(plain) {
			t.Errorf("view %+v differs from the plain tensor", v)
		}
	}
	flipped := tensorOf(t, s, img, View{Flip: true})
	n := s.Size
	for c := range 3 {
		for y := range n {
			for x := range n {
				if plain[c*n*n+y*n+x] != flipped[c*n*n+y*n+n-1-x] {
					t.Fatalf("flip is not a mirror at c=%d y=%d x=%d", c, y, x)
				}
			}
		}
	}
}

func TestViewCropZoomsIntoFrame(t *testing.T) {
	// 64x64 quadrants; the eval frame is source [4, 60) on both axes, so
	// the frame's top-left 40% is source [4, 26.4): all in the red quadrant.
	img := uniform(64, 64, color.NRGBA{0, 255, 0, 255})
	for y := range 32 {
		for x := range 32 {
			copy(img.Pix[y*img.Stride+4*x:], []uint8{255, 0, 0, 255})
		}
	}
	s := ImageNet()
	got := tensorOf(t, s, img, View{Crop: Box{0, 0, 0.4, 0.4}})
	for c, v := range [3]uint8{255, 0, 0} {
		want := expected(s, c, v)
		for i, g := range got[c*224*224 : (c+1)*224*224] {
			if g != want {
				t.Fatalf("channel %d index %d: got %v, want %v (red)", c, i, g, want)
			}
		}
	}
	// The bottom-right corner box is green.
	got = tensorOf(t, s, img, View{Crop: Box{0.6, 0.6, 1, 1}})
	if g, want := got[224*224+100*224+100], expected(s, 1, 255); g != want {
		t.Errorf("bottom-right crop green channel: got %v, want %v", g, want)
	}
}

func TestViewJitter(t *testing.T) {
	s := ImageNet()
	img := uniform(50, 40, color.NRGBA{200, 100, 50, 255})
	n := s.Size * s.Size
	val := func(x []float32, c int) float32 { return x[c*n+77] }
	x := [3]float32{200.0 / 255, 100.0 / 255, 50.0 / 255}
	norm := func(c int, v float32) float32 { return (v - s.Mean[c]) / s.Std[c] }

	got := tensorOf(t, s, img, View{Brightness: 0.5})
	for c := range 3 {
		if want := norm(c, float32(float32(float32(x[c])*0.5))); val(got, c) != want {
			t.Errorf("brightness channel %d: got %v, want %v", c, val(got, c), want)
		}
	}
	// Saturation 0 and contrast 0 make every channel the same grey.
	for _, v := range []View{{Saturation: 0.0001}, {Contrast: 0.0001}} {
		got = tensorOf(t, s, img, v)
		r := val(got, 0)*s.Std[0] + s.Mean[0]
		b := val(got, 2)*s.Std[2] + s.Mean[2]
		if d := r - b; d > 0.01 || d < -0.01 {
			t.Errorf("%+v: red %v and blue %v should both be grey", v, r, b)
		}
	}
	got = tensorOf(t, s, img, View{Brightness: 10})
	if want := norm(0, 1); val(got, 0) != want {
		t.Errorf("brightness 10 must clamp to 1: got %v, want %v", val(got, 0), want)
	}
}

func TestFastPathsMatchGenericPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := image.Rect(3, 5, 3+131, 5+97) // a non-zero origin on purpose
	fill := func(pix []uint8) {
		for i := range pix {
			pix[i] = uint8(rng.UintN(256))
		}
	}
	rgba := image.NewRGBA(r)
	fill(rgba.Pix)
	for i := 3; i < len(rgba.Pix); i += 4 {
		rgba.Pix[i] = 255 // premultiplied with alpha differs by rounding; test opaque
	}
	nrgba := image.NewNRGBA(r)
	fill(nrgba.Pix)
	gray := image.NewGray(r)
	fill(gray.Pix)
	gray16 := image.NewGray16(r)
	fill(gray16.Pix)
	pal := image.NewPaletted(r, color.Palette{color.NRGBA{10, 20, 30, 40}, color.RGBA{200, 100, 0, 255}, color.Gray{90}, color.Transparent})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.UintN(4))
	}
	// 16-bit colour with every kind of alpha: opaque, transparent, partial
	// (and, premultiplied, colour over alpha, which the decoders never make)
	nrgba64 := image.NewNRGBA64(r)
	fill(nrgba64.Pix)
	rgba64 := image.NewRGBA64(r)
	fill(rgba64.Pix)
	for i := 6; i < len(rgba64.Pix); i += 8 * 3 {
		nrgba64.Pix[i], nrgba64.Pix[i+1], rgba64.Pix[i], rgba64.Pix[i+1] = 0xff, 0xff, 0xff, 0xff
		if i+8 < len(rgba64.Pix) {
			nrgba64.Pix[i+8], nrgba64.Pix[i+9], rgba64.Pix[i+8], rgba64.Pix[i+9] = 0, 0, 0, 0
		}
	}
	imgs := map[string]image.Image{"rgba": rgba, "nrgba": nrgba, "gray": gray, "gray16": gray16, "paletted": pal,
		"nrgba64": nrgba64, "rgba64": rgba64}
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		y := image.NewYCbCr(r, ratio)
		fill(y.Y)
		fill(y.Cb)
		fill(y.Cr)
		imgs["ycbcr-"+ratio.String()] = y
	}
	s := ImageNet()
	for name, img := range imgs {
		t.Run(name, func(t *testing.T) {
			fast, slow := tensorOf(t, s, img, View{}), tensorOf(t, s, hidden{img}, View{})
			if tensorSHA(fast) != tensorSHA(slow) {
				t.Error("fast path differs from the At() path")
			}
		})
	}
}

func TestYCbCrConversionIsGo(t *testing.T) {
	for y := range 256 {
		for cb := range 256 {
			for cr := 0; cr < 256; cr += 3 {
				r0, g0, b0 := ycbcrToRGB(uint8(y), uint8(cb), uint8(cr))
				r1, g1, b1 := color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr))
				if r0 != r1 || g0 != g1 || b0 != b1 {
					t.Fatalf("YCbCr(%d,%d,%d): got %d,%d,%d want %d,%d,%d", y, cb, cr, r0, g0, b0, r1, g1, b1)
				}
			}
		}
	}
}

func TestTensorErrors(t *testing.T) {
	s := ImageNet()
	img := pattern(40, 30)
	if err := s.Tensor(img, make([]float32, s.Len()-1)); err == nil {
		t.Error("short dst accepted")
	}
	if err := s.Tensor(image.NewNRGBA(image.Rect(0, 0, 0, 5)), make([]float32, s.Len())); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty image: got %v, want ErrCorrupt", err)
	}
	if err := (Spec{}).Tensor(img, nil); !errors.Is(err, ErrSpec) {
		t.Errorf("zero spec: got %v, want ErrSpec", err)
	}
	for _, v := range []View{{Crop: Box{0.5, 0, 0.4, 1}}, {Crop: Box{-0.1, 0, 1, 1}}, {Brightness: -1}} {
		if err := s.TensorView(img, v, make([]float32, s.Len())); err == nil {
			t.Errorf("view %+v accepted", v)
		}
	}
	// A longer dst is a batch buffer: only the first Len() values are written.
	dst := make([]float32, s.Len()+3)
	dst[s.Len()] = 42
	if err := s.Tensor(img, dst); err != nil || dst[s.Len()] != 42 {
		t.Errorf("batch buffer: err %v, value past the tensor %v", err, dst[s.Len()])
	}
}

func TestConcurrentTensors(t *testing.T) {
	s := ImageNet()
	imgs := []image.Image{pattern(317, 211), pattern(211, 317), pattern(600, 450)}
	want := make([]string, len(imgs))
	for i, img := range imgs {
		want[i] = tensorSHA(tensorOf(t, s, img, View{}))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 6 {
				i := (g + k) % len(imgs)
				dst := make([]float32, s.Len())
				if err := s.Tensor(imgs[i], dst); err != nil || tensorSHA(dst) != want[i] {
					t.Errorf("goroutine %d image %d: err %v or different tensor", g, i, err)
				}
			}
		})
	}
	wg.Wait()
}
