package imagerules

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func TestCheckFiles(t *testing.T) {
	for _, tc := range []struct {
		file   string
		want   Reason
		format string
		w, h   int
	}{
		{"ok.jpg", OK, "jpeg", 64, 48},
		{"ok.jpeg", OK, "jpeg", 48, 64},
		{"ok.png", OK, "png", 64, 48},
		{"ok.bmp", OK, "bmp", 64, 48},
		{"png_named.jpg", OK, "png", 80, 60},   // content decides
		{"jpeg_named.png", OK, "jpeg", 80, 60}, // content decides
		{"anim.gif", UnsupportedFormat, "gif", 0, 0},
		{"gif_named.jpg", UnsupportedFormat, "gif", 0, 0},
		{"random_named.jpg", UnsupportedFormat, "", 0, 0},
		{"ratio_500x146.jpg", BadAspectRatio, "jpeg", 500, 146},
		{"ratio_3to1_93x31.png", OK, "png", 93, 31},
		{"short_side_90x30.png", TooShortSide, "png", 90, 30},
		{"short_side_40x30.bmp", TooShortSide, "bmp", 40, 30},
		{"min_side_31x40.jpg", OK, "jpeg", 31, 40},
		{"truncated.jpg", Corrupt, "jpeg", 160, 120},
		{"truncated.png", Corrupt, "png", 64, 48},
		{"header_only_100x100.bmp", Corrupt, "bmp", 100, 100},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range []Result{CheckBytes(b), Check(bytes.NewReader(b), int64(len(b))), Check(iotest.OneByteReader(bytes.NewReader(b)), -1)} {
				if res.Reason != tc.want || res.Format != tc.format || res.Width != tc.w || res.Height != tc.h || res.Size != int64(len(b)) {
					t.Fatalf("got %+v, want %s %s %dx%d", res, tc.want, tc.format, tc.w, tc.h)
				}
				if (res.Reason == Corrupt) != (res.Err != nil) {
					t.Errorf("Err = %v for %s", res.Err, res.Reason)
				}
			}
		})
	}
}

// TestCheckBig covers the rules whose files are too big to commit.
func TestCheckBig(t *testing.T) {
	// A real, decodable 1200×1200 PNG of noise, stored uncompressed: 5.5 MB.
	pix := image.NewNRGBA(image.Rect(0, 0, 1200, 1200))
	rand.NewChaCha8([32]byte{4}).Read(pix.Pix)
	big := encode(t, "png-raw", pix)
	if len(big) <= MaxFileSize {
		t.Fatalf("test image is only %d bytes", len(big))
	}
	p := filepath.Join(t.TempDir(), "big.png")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if res := Check(f, fi.Size()); res.Reason != TooLarge || res.Size != int64(len(big)) {
		t.Errorf("declared size: got %+v", res)
	}
	// A lying or unknown size is caught while reading.
	if res := Check(bytes.NewReader(big), 1000); res.Reason != TooLarge || res.Size != MaxFileSize+1 {
		t.Errorf("lying size: got %+v", res)
	}
	if res := CheckBytes(big); res.Reason != TooLarge {
		t.Errorf("CheckBytes: got %+v", res)
	}

	for _, tc := range []struct {
		w, h int
		want Reason
	}{
		{4096, 2000, TooLongSide},
		{2000, 4096, TooLongSide},
		{4095, 1365, OK},
	} {
		// Two-colour paletted PNGs: 1 bit per pixel, cheap to encode and decode.
		b := encode(t, "png", image.NewPaletted(image.Rect(0, 0, tc.w, tc.h), color.Palette{color.Black, color.White}))
		if res := CheckBytes(b); res.Reason != tc.want || res.Width != tc.w || res.Height != tc.h {
			t.Errorf("%dx%d: got %+v, want %s", tc.w, tc.h, res, tc.want)
		}
	}
}

// TestDimensionBomb: a header claiming a huge image is refused from the
// header alone, without allocating its pixels.
func TestDimensionBomb(t *testing.T) {
	png := encode(t, "png", gradient(40, 40))
	binary.BigEndian.PutUint32(png[16:], 100000)                         // IHDR width
	binary.BigEndian.PutUint32(png[20:], 100000)                         // IHDR height
	binary.BigEndian.PutUint32(png[29:], crc32.ChecksumIEEE(png[12:29])) // IHDR CRC
	bmp := encode(t, "bmp", gradient(40, 40))
	binary.LittleEndian.PutUint32(bmp[18:], 100000) // width
	binary.LittleEndian.PutUint32(bmp[22:], 100000) // height
	for _, tc := range []struct {
		name string
		b    []byte
		w    int
	}{{"png", png, 100000}, {"bmp", bmp, 100000}} {
		var res Result
		allocs := testing.AllocsPerRun(1, func() { res = CheckBytes(tc.b) })
		if res.Reason != TooLongSide || res.Width != tc.w || res.Height != tc.w {
			t.Errorf("%s bomb: got %+v", tc.name, res)
		}
		if allocs > 20 {
			t.Errorf("%s bomb check made %v allocations", tc.name, allocs)
		}
	}
}

func TestCheckUnsupportedVariant(t *testing.T) {
	b := encode(t, "bmp", gradient(40, 40))
	binary.LittleEndian.PutUint16(b[28:], 8) // 8 bits per pixel...
	binary.LittleEndian.PutUint32(b[30:], 1) // ...RLE8 compressed
	if res := CheckBytes(b); res.Reason != UnsupportedFormat || res.Format != "bmp" || res.Err == nil {
		t.Errorf("RLE BMP: got %+v", res)
	}
}

func TestCheckReadError(t *testing.T) {
	r := io.MultiReader(bytes.NewReader([]byte("\xff\xd8\xff")), iotest.ErrReader(errors.New("zip: checksum error")))
	if res := Check(r, -1); res.Reason != Corrupt || res.Err == nil {
		t.Errorf("got %+v", res)
	}
	if res := CheckBytes(nil); res.Reason != UnsupportedFormat {
		t.Errorf("empty file: got %+v", res)
	}
}

func TestDimensions(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want Reason
	}{
		{500, 375, OK}, {31, 31, OK}, {93, 31, OK}, {4095, 4095, OK}, {4095, 1365, OK},
		{94, 31, BadAspectRatio}, {500, 146, BadAspectRatio}, {146, 500, BadAspectRatio},
		{4096, 2000, TooLongSide}, {30, 60, TooShortSide}, {31, 30, TooShortSide},
		{0, 10, Corrupt}, {-5, 100, Corrupt},
	} {
		if got := Dimensions(tc.w, tc.h); got != tc.want {
			t.Errorf("Dimensions(%d, %d) = %s, want %s", tc.w, tc.h, got, tc.want)
		}
	}
}
