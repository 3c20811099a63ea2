package preprocess

import (
	"image"
	"image/color"
)

// rowReader turns any image into 8-bit RGB rows, the one place where colour
// models are converted. Fast paths read the pixel arrays of the types the
// decoders return; other types go through At(), which is slow but exact.
//
// Conversions (all integer, so bit-identical on every platform):
//   - YCbCr: the JFIF formula in 16.16 fixed point, exactly
//     color.YCbCrToRGB (TestYCbCrConversionIsGo); chroma is taken from the
//     subsampled plane without interpolation, as image.YCbCr.At does.
//   - Gray: R=G=B=Y. 16-bit types keep the high byte.
//   - CMYK (Go's JPEG decoder already undoes Adobe's inverted storage):
//     R = (255-K) - (C·(255-K))/255 rounded, likewise G from M and B from
//     Y, as Pillow's CMYK→RGB does.
//   - Alpha is composited over white. Straight alpha (NRGBA, palettes):
//     out = (c·a + 255·(255-a) + 127) / 255. Premultiplied (RGBA):
//     out = c + 255 - a. A fully transparent pixel is white.
type rowReader struct {
	img  image.Image
	min  image.Point
	lut  *[3 * 256]uint8 // paletted: 3 bytes per palette index, composited
	ycc  *image.YCbCr
	hsh  uint // YCbCr chroma subsampling shifts
	vsub bool
}

func newRowReader(img image.Image) rowReader {
	r := rowReader{img: img, min: img.Bounds().Min}
	switch m := img.(type) {
	case *image.Paletted:
		r.lut = new([3 * 256]uint8)
		for i := range 256 {
			c := color.NRGBA{A: 0xff} // out-of-range indices read as black
			if i < len(m.Palette) {
				c = color.NRGBAModel.Convert(m.Palette[i]).(color.NRGBA)
			}
			r.lut[3*i], r.lut[3*i+1], r.lut[3*i+2] = over(c.R, c.A), over(c.G, c.A), over(c.B, c.A)
		}
	case *image.YCbCr:
		if r.min.X >= 0 && r.min.Y >= 0 { // shifts equal COffset's division only for x, y >= 0
			r.ycc = m
			switch m.SubsampleRatio {
			case image.YCbCrSubsampleRatio422:
				r.hsh = 1
			case image.YCbCrSubsampleRatio420:
				r.hsh, r.vsub = 1, true
			case image.YCbCrSubsampleRatio440:
				r.vsub = true
			case image.YCbCrSubsampleRatio411:
				r.hsh = 2
			case image.YCbCrSubsampleRatio410:
				r.hsh, r.vsub = 2, true
			}
		}
	}
	return r
}

// over composites an 8-bit straight-alpha channel value over white.
func over(c, a uint8) uint8 {
	if a == 0xff {
		return c
	}
	return uint8((uint32(c)*uint32(a) + 255*(255-uint32(a)) + 127) / 255)
}

// read writes pixels x0..x1-1 of row y (coordinates relative to
// Bounds().Min) as R,G,B bytes into dst[:3*(x1-x0)].
func (r *rowReader) read(y, x0, x1 int, dst []uint8) {
	dst = dst[:3*(x1-x0)]
	ay, ax0 := y+r.min.Y, x0+r.min.X
	switch m := r.img.(type) {
	case *image.YCbCr:
		if r.ycc != nil {
			for i, x := 0, ax0; i < len(dst); i, x = i+3, x+1 {
				yi, ci := m.YOffset(x, ay), m.COffset(x, ay)
				dst[i], dst[i+1], dst[i+2] = ycbcrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
			return
		}
	case *image.RGBA:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+4 {
			p := src[j : j+4 : j+4]
			w := 255 - uint32(p[3])
			dst[i], dst[i+1], dst[i+2] = sat8(uint32(p[0])+w), sat8(uint32(p[1])+w), sat8(uint32(p[2])+w)
		}
		return
	case *image.NRGBA:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+4 {
			p := src[j : j+4 : j+4]
			dst[i], dst[i+1], dst[i+2] = over(p[0], p[3]), over(p[1], p[3]), over(p[2], p[3])
		}
		return
	case *image.Gray:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+1 {
			v := src[j]
			dst[i], dst[i+1], dst[i+2] = v, v, v
		}
		return
	case *image.Gray16:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+2 {
			v := src[j]
			dst[i], dst[i+1], dst[i+2] = v, v, v
		}
		return
	case *image.NRGBA64:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+8 {
			p := src[j : j+8 : j+8]
			a := be16(p[6:])
			// premultiplied as NRGBA64.RGBA does, for unpremul16 to undo
			dst[i], dst[i+1], dst[i+2] = unpremul16(be16(p[0:])*a/0xffff, be16(p[2:])*a/0xffff, be16(p[4:])*a/0xffff, a)
		}
		return
	case *image.RGBA64:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+8 {
			p := src[j : j+8 : j+8]
			dst[i], dst[i+1], dst[i+2] = unpremul16(be16(p[0:]), be16(p[2:]), be16(p[4:]), be16(p[6:]))
		}
		return
	case *image.CMYK:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+4 {
			p := src[j : j+4 : j+4]
			nk := 255 - uint32(p[3])
			dst[i], dst[i+1], dst[i+2] = uint8(nk-mul255(uint32(p[0]), nk)),
				uint8(nk-mul255(uint32(p[1]), nk)), uint8(nk-mul255(uint32(p[2]), nk))
		}
		return
	case *image.Paletted:
		src := m.Pix[m.PixOffset(ax0, ay):]
		for i, j := 0, 0; i < len(dst); i, j = i+3, j+1 {
			k := 3 * int(src[j])
			dst[i], dst[i+1], dst[i+2] = r.lut[k], r.lut[k+1], r.lut[k+2]
		}
		return
	}
	for i := 0; i < len(dst); i += 3 {
		c := color.NRGBAModel.Convert(r.img.At(ax0+i/3, ay)).(color.NRGBA)
		dst[i], dst[i+1], dst[i+2] = over(c.R, c.A), over(c.G, c.A), over(c.B, c.A)
	}
}

// unpremul16 is what the At() path makes of a 16-bit premultiplied colour
// (color.NRGBAModel's arithmetic, then over): straight 8-bit values
// composited over white.
func unpremul16(r, g, b, a uint32) (uint8, uint8, uint8) {
	switch a {
	case 0xffff:
		return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
	case 0:
		return 0xff, 0xff, 0xff
	}
	a8 := uint8(a >> 8)
	return over(uint8(r*0xffff/a>>8), a8), over(uint8(g*0xffff/a>>8), a8), over(uint8(b*0xffff/a>>8), a8)
}

func be16(p []uint8) uint32 { return uint32(p[0])<<8 | uint32(p[1]) }

// mul255 is round(a·b/255) for a, b in 0..255 (Pillow's MULDIV255).
func mul255(a, b uint32) uint32 {
	t := a*b + 128
	return (t + t>>8) >> 8
}

func sat8(v uint32) uint8 {
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// readPacked is read in the form horizontal takes: red | blue<<32 and green
// per pixel. YCbCr, the common case, is converted straight into it.
func (r *rowReader) readPacked(y, x0, x1 int, row []uint8, rb []uint64, g []uint32) {
	rb, g = rb[:x1-x0], g[:x1-x0]
	if r.ycc != nil {
		r.readYCbCr(y+r.min.Y, x0+r.min.X, rb, g)
		return
	}
	r.read(y, x0, x1, row)
	for x := range rb {
		p := row[3*x : 3*x+3 : 3*x+3]
		rb[x] = uint64(p[0]) | uint64(p[2])<<32
		g[x] = uint32(p[1])
	}
}

// readYCbCr converts len(rb) pixels of a YCbCr image starting at absolute
// (ax0, ay). Pixels sharing a chroma sample share its table lookups.
func (r *rowReader) readYCbCr(ay, ax0 int, rb []uint64, g []uint32) {
	m := r.ycc
	ys := m.Y[(ay-m.Rect.Min.Y)*m.YStride+(ax0-m.Rect.Min.X):]
	ys, g = ys[:len(rb)], g[:len(rb)]
	cy := ay - m.Rect.Min.Y
	if r.vsub {
		cy = ay/2 - m.Rect.Min.Y/2
	}
	crow := cy*m.CStride - m.Rect.Min.X>>r.hsh
	for x := ax0; x < ax0+len(ys); {
		ci := crow + x>>r.hsh
		cb, cr := m.Cb[ci], m.Cr[ci]
		ro, gro, bo := ycc.rCr[cr], ycc.gCb[cb]+ycc.gCr[cr], ycc.bCb[cb]
		end := min((x>>r.hsh+1)<<r.hsh, ax0+len(ys))
		for ; x < end; x++ {
			i := x - ax0
			yy := int32(ys[i]) * 0x10101
			rb[i] = uint64(clampYCC(yy+ro)) | uint64(clampYCC(yy+bo))<<32
			g[i] = uint32(clampYCC(yy + gro))
		}
	}
}

// ycc holds the chroma terms of color.YCbCrToRGB (the JFIF formula in 16.16
// fixed point: R = Y + 1.402 Cr', G = Y - 0.34414 Cb' - 0.71414 Cr',
// B = Y + 1.772 Cb') so that a pixel costs one multiply and three adds;
// clampYCC(Y*0x10101 + term) is exactly what color.YCbCrToRGB returns.
var ycc = func() (t struct{ rCr, gCb, gCr, bCb [256]int32 }) {
	for i := range 256 {
		c := int32(i) - 128
		t.rCr[i], t.gCb[i], t.gCr[i], t.bCb[i] = 91881*c, -22554*c, -46802*c, 116130*c
	}
	return t
}()

func clampYCC(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// ycbcrToRGB is color.YCbCrToRGB through the tables above.
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y) * 0x10101
	return clampYCC(yy + ycc.rCr[cr]), clampYCC(yy + ycc.gCb[cb] + ycc.gCr[cr]), clampYCC(yy + ycc.bCb[cb])
}
