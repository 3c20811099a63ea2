package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

// TestDecodeLimits checks the memory estimate from headers alone: what is
// refused names the size and the limit, what fits is accepted.
func TestDecodeLimits(t *testing.T) {
	rotated := func(jpg []byte) []byte { return exifJPEG(jpg, binary.BigEndian, 6) }
	for _, tc := range []struct {
		name string
		data []byte
		msg  string // "" = accepted
	}{
		// A 403 KB file of this size decodes to 400 MB.
		{"16-bit RGB PNG 7071x7071", pngHeaderOf(7071, 7071, 16, 2, 0), "7071x7071 pixels, over the limit of 40 megapixels"},
		{"16-bit RGB PNG 6000x6000", pngHeaderOf(6000, 6000, 16, 2, 0), "6000x6000 pixels and would take about 275 MB of memory to decode, over the limit of 256 MB"},
		{"16-bit RGBA PNG 5800x5800", pngHeaderOf(5800, 5800, 16, 6, 0), "about 257 MB"},
		{"16-bit RGB PNG 5000x5000", pngHeaderOf(5000, 5000, 16, 2, 0), ""},
		{"16-bit grey PNG 6300x6300", pngHeaderOf(6300, 6300, 16, 0, 0), ""},
		{"8-bit RGB PNG 6300x6300", pngHeaderOf(6300, 6300, 8, 2, 0), ""},
		{"8-bit RGB PNG over 40 MP", pngHeaderOf(6325, 6325, 8, 2, 0), "over the limit of 40 megapixels"},
		{"interlaced 8-bit RGB PNG 6000x6000", pngHeaderOf(6000, 6000, 8, 2, 1), "6000x6000 pixels and would take about 275 MB"},
		{"interlaced 8-bit RGB PNG 4000x3000", pngHeaderOf(4000, 3000, 8, 2, 1), ""},
		{"baseline 4:2:0 JPEG 6300x6300", jpegHeaderOf(0xc0, 6300, 6300, 0x22), ""},
		{"baseline 4:4:4 JPEG 6300x6300", jpegHeaderOf(0xc0, 6300, 6300, 0x11), ""},
		{"rotated 4:4:4 JPEG 6300x6300", rotated(jpegHeaderOf(0xc0, 6300, 6300, 0x11)), "about 265 MB"},
		{"rotated 4:2:0 JPEG 6300x6300", rotated(jpegHeaderOf(0xc0, 6300, 6300, 0x22)), ""},
		{"progressive 4:2:0 JPEG 6500x6000", jpegHeaderOf(0xc2, 6500, 6000, 0x22), "about 279 MB"},
		{"progressive 4:2:0 JPEG 4000x3000", jpegHeaderOf(0xc2, 4000, 3000, 0x22), ""},
		{"24-bit BMP 6300x6300", bmpHeader(6300, 6300), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeConfig(tc.data)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			_, derr := Decode(tc.data)
			for _, e := range []error{err, derr} {
				if !errors.Is(e, ErrTooLarge) || !strings.Contains(e.Error(), tc.msg) {
					t.Errorf("got %v, want ErrTooLarge containing %q", e, tc.msg)
				}
			}
		})
	}
}

// TestDecodeCost compares the estimate with what decoding real images
// allocates: it must not undercount, nor overcount wildly.
func TestDecodeCost(t *testing.T) {
	src := pattern(1200, 900)
	gray := image.NewGray(src.Bounds())
	gray16 := image.NewGray16(src.Bounds())
	rgba64 := image.NewRGBA64(src.Bounds())
	alpha := image.NewNRGBA(src.Bounds())
	pal := image.NewPaletted(src.Bounds(), color.Palette{color.Black, color.White, color.NRGBA{1, 2, 3, 4}})
	for i := range gray.Pix {
		gray.Pix[i], pal.Pix[i] = uint8(i), uint8(i%3)
	}
	for i := range gray16.Pix {
		gray16.Pix[i] = uint8(i * 7)
	}
	for i := range rgba64.Pix {
		rgba64.Pix[i], alpha.Pix[i%len(alpha.Pix)] = uint8(i*13), uint8(i*5)
	}
	var bm bytes.Buffer
	if err := bmp.Encode(&bm, src); err != nil {
		t.Fatal(err)
	}
	jpg := encodeJPEG(t, src)
	cases := []struct {
		name string
		data []byte
	}{
		{"png rgb", encodePNG(t, src)},
		{"png rgba", encodePNG(t, alpha)},
		{"png grey", encodePNG(t, gray)},
		{"png 16-bit grey", encodePNG(t, gray16)},
		{"png 16-bit rgb", encodePNG(t, rgba64)},
		{"png paletted", encodePNG(t, pal)},
		{"jpeg 4:2:0", jpg},
		{"jpeg grey", encodeJPEG(t, gray)},
		{"jpeg rotated", exifJPEG(jpg, binary.BigEndian, 6)},
		{"bmp", bm.Bytes()},
		{"jpeg progressive (photo)", readPhoto(t, []string{"datasets", "hymenoptera", "val", "bees", "6a00d8341c630a53ef00e553d0beb18834-800wi.jpg"})},
		{"jpeg baseline (photo)", readPhoto(t, photoBench)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg, est, err := header(tc.data, defaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.decode(bytes.NewReader(tc.data)); err != nil {
				t.Fatal(err) // and the decoder's one-time set-up is done
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			img, err := decode(tc.data, defaultLimits)
			runtime.ReadMemStats(&after)
			if err != nil || img.Bounds().Dx()*img.Bounds().Dy() != cfg.Width*cfg.Height {
				t.Fatalf("decode: %v", err)
			}
			got := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("%dx%d, %d KB: estimate %d KB, allocated %d KB", cfg.Width, cfg.Height, len(tc.data)>>10, est>>10, got>>10)
			if got > est+est/10+256<<10 || est > 2*got+1<<20 {
				t.Errorf("estimate %d bytes, decoding allocated %d", est, got)
			}
		})
	}
}
