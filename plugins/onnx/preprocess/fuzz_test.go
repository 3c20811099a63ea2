package preprocess

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"testing"

	"golang.org/x/image/bmp"
)

// FuzzDecode checks that no input panics Decode or Tensor, that memory
// stays bounded (a 1-megapixel, 16 MB cap here instead of MaxPixels and
// MaxDecodeBytes, so the fuzzer stays fast), and that DecodeConfig agrees
// with Decode.
func FuzzDecode(f *testing.F) {
	small := pattern(19, 13)
	var bm bytes.Buffer
	if err := bmp.Encode(&bm, small); err != nil {
		f.Fatal(err)
	}
	jpg := encodeJPEG(f, small)
	pal := image.NewPaletted(image.Rect(0, 0, 9, 7), color.Palette{color.Black, color.NRGBA{1, 2, 3, 4}})
	for _, seed := range [][]byte{
		jpg,
		exifJPEG(jpg, binary.BigEndian, 6),
		encodeJPEG(f, image.NewGray(image.Rect(0, 0, 17, 9))),
		encodePNG(f, small),
		encodePNG(f, pal),
		encodePNG(f, image.NewGray16(image.Rect(0, 0, 5, 3))),
		bm.Bytes(),
		jpg[:len(jpg)/2],
		pngHeader(3, 3),
		jpegHeader(5, 5),
		bmpHeader(2, 2),
		[]byte("GIF89a"),
		{},
	} {
		f.Add(seed)
	}
	s := Spec{Size: 8, Mode: ShorterSideCrop, Resize: 10, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
	dst := make([]float32, s.Len())
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := exifOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		img, err := decode(data, limits{pixels: 1 << 20, bytes: 16 << 20})
		if err != nil {
			return
		}
		b := img.Bounds()
		if cfg, _, err := DecodeConfig(data); err != nil || cfg.Width != b.Dx() || cfg.Height != b.Dy() {
			t.Fatalf("DecodeConfig %v %v disagrees with decoded bounds %v", cfg, err, b)
		}
		if err := s.Tensor(img, dst); err != nil {
			t.Fatalf("Tensor on a decoded image: %v", err)
		}
		if err := s.TensorView(img, View{Flip: true, Crop: Box{0.3, 0.1, 0.6, 0.9}, Contrast: 0.5}, dst); err != nil {
			t.Fatalf("TensorView on a decoded image: %v", err)
		}
	})
}
