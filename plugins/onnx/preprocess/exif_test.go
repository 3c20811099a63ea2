package preprocess

import (
	"encoding/binary"
	"image"
	"image/color"
	"testing"
)

// order is a byte order that can also append.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiff builds a TIFF header + IFD0 holding the given entries (12 bytes each,
// already encoded) in byte order bo.
func tiff(bo order, entries ...[]byte) []byte {
	t := []byte("II*\x00\x08\x00\x00\x00")
	if bo == binary.BigEndian {
		t = []byte("MM\x00*\x00\x00\x00\x08")
	}
	t = bo.AppendUint16(t, uint16(len(entries)))
	for _, e := range entries {
		t = append(t, e...)
	}
	return bo.AppendUint32(t, 0) // no next IFD
}

// entry encodes an IFD entry whose value fits in the 4-byte value field.
func entry(bo order, tag, typ uint16, count, value uint32) []byte {
	e := bo.AppendUint16(nil, tag)
	e = bo.AppendUint16(e, typ)
	e = bo.AppendUint32(e, count)
	if typ == 3 {
		e = bo.AppendUint16(e, uint16(value))
		return append(e, 0, 0)
	}
	return bo.AppendUint32(e, value)
}

// withAPP1 inserts an APP1 segment with payload right after the JPEG's SOI.
func withAPP1(jpg, payload []byte) []byte {
	seg := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

func exifJPEG(jpg []byte, bo order, o int) []byte {
	t := tiff(bo,
		entry(bo, 0x010f, 2, 4, 0x41424300), // Make, before the orientation
		entry(bo, 0x0112, 3, 1, uint32(o)),
	)
	return withAPP1(jpg, append([]byte("Exif\x00\x00"), t...))
}

// markerImage is 32x16 grey with a red 8x8 block top left and a green one
// top right, so that every orientation puts them somewhere different.
func markerImage() *image.NRGBA {
	img := uniform(32, 16, color.NRGBA{128, 128, 128, 255})
	for y := range 8 {
		for x := range 8 {
			copy(img.Pix[y*img.Stride+4*x:], []uint8{255, 0, 0, 255})
			copy(img.Pix[y*img.Stride+4*(24+x):], []uint8{0, 255, 0, 255})
		}
	}
	return img
}

func TestEXIFOrientation(t *testing.T) {
	jpg := encodeJPEG(t, markerImage())
	// Where the red and green blocks' centres are once upright.
	cases := []struct {
		o          int
		w, h       int
		red, green image.Point
	}{
		{1, 32, 16, image.Pt(4, 4), image.Pt(27, 4)},
		{2, 32, 16, image.Pt(27, 4), image.Pt(4, 4)},   // mirrored
		{3, 32, 16, image.Pt(27, 11), image.Pt(4, 11)}, // rotated 180°
		{4, 32, 16, image.Pt(4, 11), image.Pt(27, 11)}, // flipped vertically
		{5, 16, 32, image.Pt(4, 4), image.Pt(4, 27)},   // transposed
		{6, 16, 32, image.Pt(11, 4), image.Pt(11, 27)}, // rotated 90° clockwise
		{7, 16, 32, image.Pt(11, 27), image.Pt(11, 4)}, // transverse
		{8, 16, 32, image.Pt(4, 27), image.Pt(4, 4)},   // rotated 90° anticlockwise
	}
	near := func(got [3]uint8, want [3]uint8) bool {
		for c := range 3 {
			if d := int(got[c]) - int(want[c]); d > 24 || d < -24 {
				return false
			}
		}
		return true
	}
	for _, bo := range []order{binary.LittleEndian, binary.BigEndian} {
		for _, tc := range cases {
			data := exifJPEG(jpg, bo, tc.o)
			if got := exifOrientation(data); got != tc.o {
				t.Fatalf("%v orientation %d: parsed %d", bo, tc.o, got)
			}
			img, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("%v orientation %d: size %v, want %dx%d", bo, tc.o, b.Size(), tc.w, tc.h)
				continue
			}
			if p := rgbAt(img, tc.red.X, tc.red.Y); !near(p, [3]uint8{255, 0, 0}) {
				t.Errorf("%v orientation %d: %v is %v, want red", bo, tc.o, tc.red, p)
			}
			if p := rgbAt(img, tc.green.X, tc.green.Y); !near(p, [3]uint8{0, 255, 0}) {
				t.Errorf("%v orientation %d: %v is %v, want green", bo, tc.o, tc.green, p)
			}
			cfg, _, err := DecodeConfig(data)
			if err != nil || cfg.Width != tc.w || cfg.Height != tc.h {
				t.Errorf("%v orientation %d: DecodeConfig %v %v", bo, tc.o, cfg, err)
			}
		}
	}
}

func TestMalformedEXIFIsIgnored(t *testing.T) {
	jpg := encodeJPEG(t, markerImage())
	le := binary.LittleEndian
	good := tiff(le, entry(le, 0x0112, 3, 1, 6))
	cases := map[string][]byte{
		"not exif":          []byte("XMP\x00 something"),
		"exif header only":  []byte("Exif\x00\x00"),
		"bad byte order":    append([]byte("Exif\x00\x00XX*\x00"), good[4:]...),
		"bad magic":         append([]byte("Exif\x00\x00II\x2b\x00"), good[4:]...),
		"offset past end":   append([]byte("Exif\x00\x00II*\x00\xff\xff\x00\x00"), good[8:]...),
		"offset below 8":    append([]byte("Exif\x00\x00II*\x00\x02\x00\x00\x00"), good[8:]...),
		"truncated entries": append([]byte("Exif\x00\x00"), good[:14]...),
		"huge entry count":  append([]byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"), tiff(le, entry(le, 0x010f, 2, 4, 0))[10:]...),
		"value 9":           append([]byte("Exif\x00\x00"), tiff(le, entry(le, 0x0112, 3, 1, 9))...),
		"value 0":           append([]byte("Exif\x00\x00"), tiff(le, entry(le, 0x0112, 3, 1, 0))...),
		"wrong type":        append([]byte("Exif\x00\x00"), tiff(le, entry(le, 0x0112, 2, 1, 6))...),
		"count 2":           append([]byte("Exif\x00\x00"), tiff(le, entry(le, 0x0112, 3, 2, 6))...),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			data := withAPP1(jpg, payload)
			if o := exifOrientation(data); o != 1 {
				t.Errorf("orientation %d, want 1", o)
			}
			img, err := Decode(data)
			if err != nil {
				t.Fatalf("bad EXIF must not fail the decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 32 {
				t.Errorf("size %v, want the stored 32x16", b.Size())
			}
		})
	}
	// LONG instead of SHORT is accepted; only the first Exif segment counts.
	long := withAPP1(jpg, append([]byte("Exif\x00\x00"), tiff(le, entry(le, 0x0112, 4, 1, 8))...))
	if o := exifOrientation(long); o != 8 {
		t.Errorf("LONG orientation: got %d, want 8", o)
	}
	if o := exifOrientation(exifJPEG(exifJPEG(jpg, le, 6), le, 3)); o != 3 {
		t.Errorf("two Exif segments: got %d, want the first (3)", o)
	}
	// Truncated and garbled marker streams: never panic, orientation 1.
	data := exifJPEG(jpg, le, 6)
	for i := range 60 {
		if o := exifOrientation(data[:i]); o != 1 && i < 40 {
			t.Errorf("prefix %d: orientation %d", i, o)
		}
	}
	for _, bad := range [][]byte{{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x01}, {0xff, 0xd8, 0x00, 0x00, 0x00}, {0xff, 0xd8, 0xff, 0xff, 0xff, 0xff}} {
		if o := exifOrientation(bad); o != 1 {
			t.Errorf("%x: orientation %d", bad, o)
		}
	}
}
