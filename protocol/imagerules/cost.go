package imagerules

import (
	"bytes"
	"image/color"
)

// DecodeCost estimates from an image's header what decoding its pixels
// will allocate, in bytes: width × height × the bytes a pixel of its
// colour model takes (8 for 16-bit colour, 4 for RGBA or CMYK, 3 for
// YCbCr, 2 for 16-bit grey, 1 for grey or a palette), plus the file
// itself. A small file can claim many pixels (a 130 KB PNG of zeros
// decodes to 128 MiB), so admission counts this, not the bytes sent. ok
// is false when the header does not read; such a file fails its decode
// cheaply.
func DecodeCost(b []byte) (cost int64, ok bool) {
	dec, found := decoders[Sniff(b)]
	if !found {
		return int64(len(b)), false
	}
	cfg, err := dec.config(bytes.NewReader(b))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return int64(len(b)), false
	}
	bpp := int64(4)
	switch cfg.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	case color.YCbCrModel:
		bpp = 3
	case color.Gray16Model:
		bpp = 2
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	default:
		if _, paletted := cfg.ColorModel.(color.Palette); paletted {
			bpp = 1
		}
	}
	return int64(cfg.Width)*int64(cfg.Height)*bpp + int64(len(b)), true
}
