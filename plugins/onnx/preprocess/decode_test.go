package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"math"
	"os"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/autocv/autocv/protocol/imagerules"
)

func TestDecodeFormats(t *testing.T) {
	src := pattern(40, 30)
	var bm bytes.Buffer
	if err := bmp.Encode(&bm, src); err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray(src.Bounds())
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	cases := []struct {
		name   string
		data   []byte
		format string
		typ    string
	}{
		{"jpeg", encodeJPEG(t, src), FormatJPEG, "*image.YCbCr"},
		{"jpeg grey", encodeJPEG(t, gray), FormatJPEG, "*image.Gray"},
		{"png", encodePNG(t, src), FormatPNG, "*image.RGBA"}, // opaque NRGBA is written as RGB
		{"bmp", bm.Bytes(), FormatBMP, "*image.RGBA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(img); got != tc.typ {
				t.Errorf("type %s, want %s", got, tc.typ)
			}
			cfg, f, err := DecodeConfig(tc.data)
			if err != nil || f != tc.format || cfg.Width != 40 || cfg.Height != 30 {
				t.Errorf("DecodeConfig: %v %q %v", cfg, f, err)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *image.YCbCr:
		return "*image.YCbCr"
	case *image.Gray:
		return "*image.Gray"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.CMYK:
		return "*image.CMYK"
	}
	return "other"
}

func TestDecodeRejects(t *testing.T) {
	var g bytes.Buffer
	if err := gif.Encode(&g, pattern(8, 8), nil); err != nil {
		t.Fatal(err)
	}
	jpg := encodeJPEG(t, pattern(40, 30))
	pngData := encodePNG(t, pattern(40, 30))
	cases := []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"gif", g.Bytes(), ErrUnsupportedFormat, "GIF is not supported (use jpg, png or bmp)"},
		{"text", []byte("hello, world"), ErrUnsupportedFormat, "starts with 68 65 6c 6c 6f 2c 20 77"},
		{"empty", nil, ErrCorrupt, "empty"},
		{"truncated jpeg", jpg[:len(jpg)/2], ErrCorrupt, "JPEG"},
		{"jpeg magic only", []byte("\xff\xd8\xff\xe0garbage"), ErrCorrupt, "JPEG"},
		{"truncated png", pngData[:len(pngData)-30], ErrCorrupt, "PNG"},
		{"png bad crc", flip(pngData, 20), ErrCorrupt, "PNG"},
		{"bmp header cut short", bmpHeader(40, 30)[:30], ErrCorrupt, "BMP"},
		{"png bomb", pngHeader(100_000, 100_000), ErrTooLarge, "100000x100000"},
		{"png just over", pngHeader(6325, 6325), ErrTooLarge, "over the limit of 40 megapixels"},
		{"jpeg bomb", jpegHeader(65535, 65535), ErrTooLarge, "65535x65535"},
		{"bmp bomb", bmpHeader(60_000, 60_000), ErrTooLarge, "60000x60000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Decode(tc.data)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.err, tc.msg)
			}
			if img != nil {
				t.Error("an image came back with the error")
			}
			if _, _, cerr := DecodeConfig(tc.data); cerr == nil && tc.err != ErrCorrupt {
				t.Errorf("DecodeConfig accepted it")
			}
		})
	}
}

// TestDecodeSniffCases runs the shared table of magic bytes through Decode:
// a format imagerules.Sniff recognises but we do not decode is refused by
// its name, an unknown one by its first bytes, and a supported one reaches
// its decoder (which finds these few bytes corrupt or a variant it lacks).
func TestDecodeSniffCases(t *testing.T) {
	for _, tc := range imagerules.SniffCases() {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := Decode(tc.Data)
			_, f, cerr := DecodeConfig(tc.Data)
			if err == nil || cerr == nil {
				t.Fatalf("Decode: %v, DecodeConfig: %v; want errors", err, cerr)
			}
			label := imagerules.Label(tc.Format)
			switch {
			case imagerules.Supported(tc.Format):
				if !strings.Contains(err.Error(), label) || errors.Is(err, ErrTooLarge) {
					t.Errorf("got %v, want the %s decoder's error", err, label)
				}
			case tc.Format != "":
				if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), label+" is not supported") {
					t.Errorf("got %v, want ErrUnsupportedFormat naming %s", err, label)
				}
			case len(tc.Data) == 0:
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("got %v, want ErrCorrupt", err)
				}
			default:
				if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "not a jpg, png or bmp file") {
					t.Errorf("got %v, want ErrUnsupportedFormat for an unknown format", err)
				}
			}
			if f != "" || cerr.Error() != err.Error() {
				t.Errorf("DecodeConfig = %q, %v; want Decode's error %v", f, cerr, err)
			}
		})
	}
}

func flip(data []byte, i int) []byte {
	out := bytes.Clone(data)
	out[i] ^= 0xff
	return out
}

// pngHeader is a PNG signature + a valid IHDR claiming w×h 8-bit RGB, no
// pixels.
func pngHeader(w, h uint32) []byte { return pngHeaderOf(w, h, 8, 2, 0) }

// pngHeaderOf is pngHeader with the bit depth, colour type (0 grey, 2 RGB,
// 3 palette, 4 grey+alpha, 6 RGBA) and interlace method (1 Adam7) given.
func pngHeaderOf(w, h uint32, depth, ctype, interlace byte) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, ctype, 0, 0, interlace)
	out := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// jpegHeader is SOI + a baseline SOF0 claiming w×h 4:2:0 YCbCr + the
// start of a scan, no pixels.
func jpegHeader(w, h uint16) []byte { return jpegHeaderOf(0xc0, w, h, 0x22) }

// jpegHeaderOf is jpegHeader with the SOF marker (0xc2: progressive) and
// the luma sampling factors (0x22: 4:2:0, 0x11: 4:4:4) given.
func jpegHeaderOf(marker byte, w, h uint16, luma byte) []byte {
	sof := []byte{0xff, 0xd8, 0xff, marker, 0, 17, 8}
	sof = binary.BigEndian.AppendUint16(sof, h)
	sof = binary.BigEndian.AppendUint16(sof, w)
	sof = append(sof, 3, 1, luma, 0, 2, 0x11, 1, 3, 0x11, 1)
	return append(sof, 0xff, 0xda, 0, 12)
}

// bmpHeader is a 24-bit BMP header claiming w×h, no pixels.
func bmpHeader(w, h uint32) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32([]byte("BM"), 54+w*h*3)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 54)
	b = le.AppendUint32(b, 40)
	b = le.AppendUint32(b, w)
	b = le.AppendUint32(b, h)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 24)
	return append(b, make([]byte, 24)...)
}

// TestColourModels decodes each colour model from real encoded bytes and
// checks the tensor of a uniform image against the documented conversion.
func TestColourModels(t *testing.T) {
	over := func(c, a uint8) uint8 { return uint8((int(c)*int(a) + 255*(255-int(a)) + 127) / 255) }
	pal := image.NewPaletted(image.Rect(0, 0, 30, 20), color.Palette{color.NRGBA{200, 100, 50, 128}})
	gray16 := image.NewGray16(image.Rect(0, 0, 30, 20))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 30, 20))
	for i := 0; i < len(gray16.Pix); i += 2 {
		gray16.Pix[i], gray16.Pix[i+1] = 0xab, 0xcd
	}
	for i := 0; i < len(rgba64.Pix); i += 8 {
		copy(rgba64.Pix[i:], []uint8{0x12, 0x34, 0xab, 0xcd, 0xfe, 0xdc, 0xff, 0xff})
	}
	cmyk := image.NewCMYK(image.Rect(0, 0, 30, 20))
	for i := 0; i < len(cmyk.Pix); i += 4 {
		copy(cmyk.Pix[i:], []uint8{0, 255, 128, 64})
	}
	cases := []struct {
		name string
		img  image.Image
		want [3]uint8
	}{
		{"transparent png is white", decodeT(t, encodePNG(t, uniform(30, 20, color.NRGBA{10, 20, 30, 0}))), [3]uint8{255, 255, 255}},
		{"half alpha png", decodeT(t, encodePNG(t, uniform(30, 20, color.NRGBA{200, 100, 50, 128}))), [3]uint8{over(200, 128), over(100, 128), over(50, 128)}},
		{"paletted png with tRNS", decodeT(t, encodePNG(t, pal)), [3]uint8{over(200, 128), over(100, 128), over(50, 128)}},
		{"16-bit grey png", decodeT(t, encodePNG(t, gray16)), [3]uint8{0xab, 0xab, 0xab}},
		{"16-bit rgb png", decodeT(t, encodePNG(t, rgba64)), [3]uint8{0x12, 0xab, 0xfe}},
		{"premultiplied rgba", &image.RGBA{Pix: bytes.Repeat([]uint8{100, 50, 0, 128}, 4), Stride: 8, Rect: image.Rect(0, 0, 2, 2)}, [3]uint8{227, 177, 127}},
		{"cmyk", cmyk, [3]uint8{191, 0, 95}},
	}
	s := ImageNet()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tensorOf(t, s, tc.img, View{})
			for c := range 3 {
				if g, w := got[c*224*224+5000], expected(s, c, tc.want[c]); g != w {
					t.Errorf("channel %d: got %v, want %v (byte %d)", c, g, w, tc.want[c])
				}
			}
		})
	}
}

func decodeT(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestAdobeCMYKJPEG decodes an Adobe (inverted) CMYK JPEG from Go's own
// test data and compares it with the reference RGB rendering of it.
func TestAdobeCMYKJPEG(t *testing.T) {
	jpg, err := os.ReadFile("testdata/video-001.cmyk.jpeg")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile("testdata/video-001.cmyk.png")
	if err != nil {
		t.Fatal(err)
	}
	img := decodeT(t, jpg)
	if _, ok := img.(*image.CMYK); !ok {
		t.Fatalf("decoded as %T, want *image.CMYK", img)
	}
	s := ImageNet()
	a, b := tensorOf(t, s, img, View{}), tensorOf(t, s, decodeT(t, ref), View{})
	var sum float64
	for i := range a {
		sum += math.Abs(float64(a[i] - b[i]))
	}
	// 0.05 in normalised units is about 3 levels of 255.
	if mean := sum / float64(len(a)); mean > 0.05 {
		t.Errorf("mean |CMYK tensor - reference| = %.3f, want < 0.05", mean)
	}
}

func TestRealPhotos(t *testing.T) {
	s := ImageNet()
	for _, p := range [][]string{photoAnts, photoBees, photoDaisy, photoBench} {
		got := tensorOf(t, s, decodeT(t, readPhoto(t, p)), View{})
		plane := 224 * 224
		for c := range 3 {
			var sum, sq float64
			for _, v := range got[c*plane : (c+1)*plane] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: non-finite value", p[len(p)-1])
				}
				sum += float64(v)
				sq += float64(v) * float64(v)
			}
			mean := sum / float64(plane)
			std := math.Sqrt(sq/float64(plane) - mean*mean)
			if mean < -2 || mean > 2.3 || std < 0.1 || std > 2 {
				t.Errorf("%s channel %d: mean %.3f std %.3f is implausible", p[len(p)-1], c, mean, std)
			}
		}
	}
}
