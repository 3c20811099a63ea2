package imagerules

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
)

// The files in testdata/ are real images made by the encoders below.
// Regenerate them with
//
//	go test ./protocol/imagerules -run TestTestdataFiles -update
//
// Files that would be big (over 4 MB, 4096 pixels wide) are made in each
// test's temporary folder instead.
var update = flag.Bool("update", false, "rewrite the files in testdata/")

// testdataFiles maps each committed file to how it is made.
var testdataFiles = map[string]func(t testing.TB) []byte{
	"ok.jpg":                  func(t testing.TB) []byte { return encode(t, "jpeg", gradient(64, 48)) },
	"ok.jpeg":                 func(t testing.TB) []byte { return encode(t, "jpeg", gradient(48, 64)) },
	"ok.png":                  func(t testing.TB) []byte { return encode(t, "png", gradient(64, 48)) },
	"ok.bmp":                  func(t testing.TB) []byte { return encode(t, "bmp", gradient(64, 48)) },
	"png_named.jpg":           func(t testing.TB) []byte { return encode(t, "png", gradient(80, 60)) },
	"jpeg_named.png":          func(t testing.TB) []byte { return encode(t, "jpeg", gradient(80, 60)) },
	"anim.gif":                func(t testing.TB) []byte { return encode(t, "gif", gradient(64, 48)) },
	"gif_named.jpg":           func(t testing.TB) []byte { return encode(t, "gif", gradient(64, 48)) },
	"ratio_500x146.jpg":       func(t testing.TB) []byte { return encode(t, "jpeg", gradient(500, 146)) },
	"ratio_3to1_93x31.png":    func(t testing.TB) []byte { return encode(t, "png", gradient(93, 31)) },
	"short_side_90x30.png":    func(t testing.TB) []byte { return encode(t, "png", gradient(90, 30)) },
	"min_side_31x40.jpg":      func(t testing.TB) []byte { return encode(t, "jpeg", gradient(31, 40)) },
	"short_side_40x30.bmp":    func(t testing.TB) []byte { return encode(t, "bmp", gradient(40, 30)) },
	"truncated.jpg":           func(t testing.TB) []byte { b := encode(t, "jpeg", noise(160, 120, 1)); return b[:len(b)/2] },
	"truncated.png":           func(t testing.TB) []byte { b := encode(t, "png", noise(64, 48, 2)); return b[:len(b)-100] },
	"random_named.jpg":        func(t testing.TB) []byte { return randomBytes(4096, 3) },
	"header_only_100x100.bmp": func(t testing.TB) []byte { return encode(t, "bmp", gradient(100, 100))[:54] },
}

func TestTestdataFiles(t *testing.T) {
	for name, gen := range testdataFiles {
		p := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(p, gen(t), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%v (run with -update to make it)", err)
		}
		if fi.Size() > 100<<10 {
			t.Errorf("%s is %d bytes; keep committed test files under 100 KB", p, fi.Size())
		}
	}
}

// gradient is a smooth w×h image that compresses well.
func gradient(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

// noise is a w×h image of random pixels that does not compress.
func noise(w, h int, seed uint64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	return img
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = uint8(r.Uint32())
	}
	return b
}

// encode writes img in a format with the standard encoders.
func encode(t testing.TB, format string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	case "png":
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	case "png-raw":
		err = (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img)
	case "bmp":
		err = bmp.Encode(&buf, img)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	default:
		t.Fatalf("unknown format %q", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
