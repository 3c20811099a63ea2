package preprocess

import (
	"encoding/binary"
	"image"
)

// exifOrientation returns the EXIF orientation (1-8) of a JPEG, or 1 when it
// has none or the metadata is malformed. It reads tag 0x0112 from IFD0 of
// the first APP1 "Exif" segment before the first scan, in either TIFF byte
// order. Every offset is bounds-checked: bad EXIF is ignored, never an
// error and never a panic.
func exifOrientation(data []byte) int {
	o := 1
	walkJPEG(data, func(m byte, seg []byte) bool {
		if m == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			o = tiffOrientation(seg[6:])
			return false
		}
		return true
	})
	return o
}

// walkJPEG calls fn with each marker segment's marker and payload (after
// the length) up to the first scan, until fn returns false. It stops
// quietly at anything malformed: it is for metadata, and the decoder judges
// the file.
func walkJPEG(data []byte, fn func(marker byte, seg []byte) bool) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return // lost sync: not a marker where one must be
		}
		m := data[i+1]
		if m == 0xff { // fill byte before a marker
			i++
			continue
		}
		i += 2
		switch {
		case m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7):
			continue // markers without a length
		case m == 0xda || m == 0xd9:
			return // start of scan or end of image: no metadata after this
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		if n < 2 || i+n > len(data) {
			return
		}
		seg := data[i+2 : i+n]
		i += n
		if !fn(m, seg) {
			return
		}
	}
}

// tiffOrientation reads the Orientation tag from IFD0 of a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for k, e := 0, int(off)+2; k < count && e+12 <= len(t); k, e = k+1, e+12 {
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v uint32
		switch bo.Uint16(t[e+2:]) { // field type
		case 3: // SHORT, the standard type
			v = uint32(bo.Uint16(t[e+8:]))
		case 4: // LONG, written by a few tools
			v = bo.Uint32(t[e+8:])
		default:
			return 1
		}
		if bo.Uint32(t[e+4:]) == 1 && v >= 1 && v <= 8 {
			return int(v)
		}
		return 1
	}
	return 1
}

// orient returns img transformed for EXIF orientation o (2-8) as an opaque
// *image.RGBA (alpha composited over white, see rowReader). With the stored
// image W×H and a display pixel (dx, dy), the stored pixel (sx, sy) is:
//
//	2 mirror:        (W-1-dx, dy)      6 rotate 90° CW:  (dy, H-1-dx)
//	3 rotate 180°:   (W-1-dx, H-1-dy)  7 transverse:     (W-1-dy, H-1-dx)
//	4 flip vertical: (dx, H-1-dy)      8 rotate 90° CCW: (W-1-dy, dx)
//	5 transpose:     (dy, dx)
//
// Orientations 5-8 make the display image H×W.
func orient(img image.Image, o int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, dw, dh))
	src := newRowReader(img)
	row := make([]uint8, 3*w)
	for sy := range h {
		src.read(sy, 0, w, row)
		for sx := range w {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-sx, sy
			case 3:
				dx, dy = w-1-sx, h-1-sy
			case 4:
				dx, dy = sx, h-1-sy
			case 5:
				dx, dy = sy, sx
			case 6:
				dx, dy = h-1-sy, sx
			case 7:
				dx, dy = h-1-sy, w-1-sx
			case 8:
				dx, dy = sy, w-1-sx
			default:
				dx, dy = sx, sy
			}
			p := out.Pix[dy*out.Stride+4*dx:]
			p[0], p[1], p[2], p[3] = row[3*sx], row[3*sx+1], row[3*sx+2], 0xff
		}
	}
	return out
}
