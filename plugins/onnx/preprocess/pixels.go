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
//     color.YCbCrToRGB; chroma is taken from the subsampled plane without
//     interpolation (what image.YCbCr.At does).
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
	lut  []uint8 // paletted: 3 bytes per palette index, composited
	ycc  *image.YCbCr
	hsh  uint // YCbCr chroma subsampling shifts
	vsub bool
}

func newRowReader(img image.Image) *rowReader {
	r := &rowReader{img: img, min: img.Bounds().Min}
	switch m := img.(type) {
	case *image.Paletted:
		r.lut = make([]uint8, 3*256)
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
			r.readYCbCr(ay, ax0, dst)
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

// readYCbCr converts one row of a YCbCr image starting at absolute (ax0, ay).
func (r *rowReader) readYCbCr(ay, ax0 int, dst []uint8) {
	m := r.ycc
	ys := m.Y[(ay-m.Rect.Min.Y)*m.YStride+(ax0-m.Rect.Min.X):]
	cy := ay - m.Rect.Min.Y
	if r.vsub {
		cy = ay/2 - m.Rect.Min.Y/2
	}
	crow := cy*m.CStride - m.Rect.Min.X>>r.hsh
	for i, x := 0, ax0; i < len(dst); i, x = i+3, x+1 {
		ci := crow + x>>r.hsh
		dst[i], dst[i+1], dst[i+2] = ycbcrToRGB(ys[x-ax0], m.Cb[ci], m.Cr[ci])
	}
}

// ycbcrToRGB is color.YCbCrToRGB, repeated here so that it inlines.
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy1 := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := yy1 + 91881*cr1
	if uint32(r)&0xff000000 == 0 {
		r >>= 16
	} else {
		r = ^(r >> 31)
	}
	g := yy1 - 22554*cb1 - 46802*cr1
	if uint32(g)&0xff000000 == 0 {
		g >>= 16
	} else {
		g = ^(g >> 31)
	}
	b := yy1 + 116130*cb1
	if uint32(b)&0xff000000 == 0 {
		b >>= 16
	} else {
		b = ^(b >> 31)
	}
	return uint8(r), uint8(g), uint8(b)
}
