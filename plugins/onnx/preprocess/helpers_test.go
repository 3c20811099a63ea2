package preprocess

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

// Real photos from the shared test data (paths under datasets/).
var (
	photoAnts  = []string{"datasets", "hymenoptera", "val", "ants", "1124525276_816a07c17f.jpg"} // 500x334
	photoBees  = []string{"datasets", "hymenoptera", "val", "bees", "10870992_eebeeb3a12.jpg"}   // 500x464
	photoDaisy = []string{"datasets", "flowers5", "daisy", "10140303196_b88d3d6cec.jpg"}         // 499x665
	photoBench = []string{"datasets", "hymenoptera", "val", "ants", "10308379_1b6c72e180.jpg"}   // 500x375
)

func readPhoto(t testing.TB, elem []string) []byte {
	t.Helper()
	data, err := os.ReadFile(testenv.Data(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pattern is a deterministic image with smooth gradients, hard edges and
// per-pixel noise, to exercise the resampler.
func pattern(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			p := img.Pix[y*img.Stride+4*x:]
			for c := range 3 {
				v := uint32(x*3+y*2+c*85) & 0xff
				hh := uint32(x)*374761393 + uint32(y)*668265263 + uint32(c)*2147483647
				hh = (hh ^ hh>>13) * 1274126177
				hh ^= hh >> 16
				v = (v + hh&63) & 0xff
				if (x/7+y/5)%2 == 0 {
					v ^= 0x80
				}
				p[c] = uint8(v)
			}
			p[3] = 0xff
		}
	}
	return img
}

func uniform(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = n.R, n.G, n.B, n.A
	}
	return img
}

func tensorOf(t testing.TB, s Spec, img image.Image, v View) []float32 {
	t.Helper()
	dst := make([]float32, s.Len())
	if err := s.TensorView(img, v, dst); err != nil {
		t.Fatalf("TensorView: %v", err)
	}
	return dst
}

// tensorSHA is the sha256 of the tensor as little-endian float32 bytes.
func tensorSHA(x []float32) string {
	b := make([]byte, 4*len(x))
	for i, f := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// expected is the normalised value of byte v in tensor channel c.
func expected(s Spec, c int, v uint8) float32 {
	return (float32(v)/255 - s.Mean[c]) / s.Std[c]
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgbAt reads the upright image's pixel as 8-bit RGB the way Tensor does.
func rgbAt(img image.Image, x, y int) [3]uint8 {
	var px [3]uint8
	r := newRowReader(img)
	r.read(y, x, x+1, px[:])
	return px
}

// hidden hides an image's concrete type so Tensor takes the At() path.
type hidden struct{ image.Image }
