package preprocess

import (
	"image"
	"image/color"
)

// Memory limits. A photo file is small and its pixels are not: a 400 KB
// PNG can claim 7071×7071 pixels of 16 bits per channel, 400 MB decoded.
// So Decode estimates from the header what decoding will allocate
// (decodeCost) and refuses, with ErrTooLarge, before allocating anything:
//
//   - images over MaxPixels;
//   - images whose decoding would take over MaxDecodeBytes: 8 bytes a
//     pixel for 16-bit colour PNGs, 4 for RGBA, 1 for grey or palette;
//     1.5-3 for JPEG's YCbCr, plus 4 a sample for a progressive JPEG's
//     coefficients and 4 a pixel for a CMYK or RGB JPEG's conversion and
//     for the EXIF rotation; twice that for an interlaced PNG, plus half
//     the file's size for the inflater.
//
// MaxPixels allows a 40-megapixel 8-bit photo (160 MB as RGBA); a 16-bit
// colour PNG stops at about 33 megapixels.
const (
	MaxPixels      = 40_000_000
	MaxDecodeBytes = 256 << 20
)

// DecodeBudget bounds the memory of the decodes running at once in the
// process, estimated as above. Decode takes an image's estimate from it
// before decoding and gives it back when done, waiting (first come, first
// served) while the budget is spent, so many goroutines decoding big
// images at once take turns instead of running the process out of memory.
// Spec.DecodeTensor holds it until the image is the small tensor, and
// counts the resampler's buffers too. The image Decode returns is the
// caller's and no longer counts. DecodeConfig does not allocate pixels and
// never waits.
//
// DecodeBudget is the default size; SetDecodeBudget changes it for the
// process (the inference plugin reads it from its environment). A budget
// smaller than MaxDecodeBytes is also the per-image limit: an image whose
// estimate is over it is refused with ErrTooLarge, so a single image is
// never larger than the budget and Decode always gets its turn. The budget
// is held only while decoding and converting, never while waiting for
// anything else, so it cannot deadlock.
const DecodeBudget = 512 << 20

// limits are the header checks; tests and the fuzzer use smaller ones.
type limits struct {
	pixels, bytes int64
}

var defaultLimits = limits{MaxPixels, MaxDecodeBytes}

// activeLimits are the checks Decode, DecodeConfig and DecodeTensor apply:
// the defaults, and no image larger than the decode budget.
func activeLimits() limits {
	l := defaultLimits
	l.bytes = min(l.bytes, decoding.capacity())
	return l
}

// decodeCost estimates from the header the bytes that decoding data will
// allocate at its peak: the decoded image and the decoder's working
// buffers that scale with it.
func decodeCost(f *format, data []byte, cfg image.Config) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	switch f {
	case jpegFormat:
		return jpegCost(data, cfg)
	case pngFormat:
		c := px * bytesPerPixel(cfg.ColorModel)
		if len(data) > 28 && data[28] == 1 { // IHDR interlace method: Adam7
			c *= 2 // each pass is decoded into an image of its own first
		}
		// The inflater builds Huffman tables for every block of compressed
		// data: about 0.3 bytes a byte of a noisy photo.
		return c + int64(len(data))/2
	}
	return px * bytesPerPixel(cfg.ColorModel)
}

// bytesPerPixel is the size of a pixel of the image type the decoders
// return for a colour model.
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4; jpegCost counts the subsampling
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	}
	return 8 // RGBA64, NRGBA64, and anything unforeseen
}

// jpegCost estimates what Go's JPEG decoder allocates for a w×h JPEG: one
// byte per sample of each component at its sampling factors (the YCbCr or
// Gray planes); for a progressive JPEG the coefficients too, 4 bytes a
// sample; the conversion of a 4-component (CMYK, YCCK) or RGB JPEG to a
// 4-byte-a-pixel image; and the upright copy of a rotated one.
func jpegCost(data []byte, cfg image.Config) int64 {
	w, h := cfg.Width, cfg.Height
	px := int64(w) * int64(h)
	var (
		sof         []byte // the frame header: P, Y, X, Nf, Nf × (C, HV, Tq)
		progressive bool
		jfif, adobe bool
		transform   byte
	)
	walkJPEG(data, func(m byte, seg []byte) bool {
		switch {
		case m == 0xe0 && len(seg) >= 5 && string(seg[:5]) == "JFIF\x00":
			jfif = true
		case m == 0xee && len(seg) >= 12 && string(seg[:5]) == "Adobe":
			adobe, transform = true, seg[11]
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			sof = seg
			progressive = m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
		}
		return true
	})
	if len(sof) < 6 || len(sof) < 6+3*int(sof[5]) || sof[5] == 0 {
		// The decoder skipped junk between segments, which walkJPEG does
		// not: count full-size planes and one conversion.
		return px * (bytesPerPixel(cfg.ColorModel) + 4)
	}
	n := int(sof[5])
	hmax, vmax := 1, 1
	for i := range n {
		hv := sof[6+3*i+1]
		hmax, vmax = max(hmax, int(hv>>4)), max(vmax, int(hv&15))
	}
	var samples int64
	for i := range n {
		hv := sof[6+3*i+1]
		hi, vi := max(1, int(hv>>4)), max(1, int(hv&15))
		samples += int64((w*hi+hmax-1)/hmax) * int64((h*vi+vmax-1)/vmax)
	}
	cost := samples
	if progressive {
		cost += 4 * samples
	}
	rgb := n == 3 && !jfif && (adobe && transform == 0 || string([]byte{sof[6], sof[9], sof[12]}) == "RGB")
	if n == 4 || rgb {
		cost += 4 * px
	}
	if exifOrientation(data) > 1 {
		cost += 4 * px
	}
	return cost
}
