package preprocess

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"

	"github.com/autocv/autocv/protocol/imagerules"
)

// Errors returned by Decode and DecodeConfig, wrapped with details; test
// them with errors.Is.
var (
	ErrUnsupportedFormat = errors.New("unsupported image format")
	ErrCorrupt           = errors.New("corrupt image")
	ErrTooLarge          = errors.New("image too large")
)

// Format names returned by DecodeConfig.
const (
	FormatJPEG = imagerules.FormatJPEG
	FormatPNG  = imagerules.FormatPNG
	FormatBMP  = imagerules.FormatBMP
)

const supportedList = "use jpg, png or bmp"

// Decode decodes a JPEG, PNG or BMP photo, recognised from its bytes
// (imagerules.Sniff) whatever its file name says, and returns it upright: a
// JPEG's EXIF orientation is applied. Images over MaxPixels, MaxDecodeBytes
// or the DecodeBudget are refused from the header with ErrTooLarge; Decode
// may wait while other goroutines decode big images (see DecodeBudget). The
// image type is the decoder's (*image.YCbCr, *image.Gray, *image.CMYK,
// *image.Paletted, *image.RGBA, *image.NRGBA, the 16-bit types) or, for a
// JPEG whose orientation is not 1, an opaque *image.RGBA. Alpha is left in
// the image; Tensor composites it over white.
func Decode(data []byte) (image.Image, error) {
	return decode(data, activeLimits())
}

// DecodeConfig reads only the header: the upright size (EXIF orientations
// 5-8 swap width and height) and the format, one of FormatJPEG, FormatPNG,
// FormatBMP. It applies the same checks as Decode short of decoding pixels,
// and never waits.
func DecodeConfig(data []byte) (image.Config, string, error) {
	f, cfg, _, err := header(data, activeLimits())
	if err != nil {
		return image.Config{}, "", err
	}
	if f.name == FormatJPEG && exifOrientation(data) >= 5 {
		cfg.Width, cfg.Height = cfg.Height, cfg.Width
	}
	return cfg, f.name, nil
}

type format struct {
	name   string
	label  string // for messages
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var (
	jpegFormat = &format{FormatJPEG, "JPEG", jpeg.DecodeConfig, jpeg.Decode}
	pngFormat  = &format{FormatPNG, "PNG", png.DecodeConfig, png.Decode}
	bmpFormat  = &format{FormatBMP, "BMP", bmp.DecodeConfig, bmp.Decode}
)

// sniff recognises the format from the first bytes with the sniffer that
// dataset import and the agent use too, so all three refuse a file for the
// same reason.
func sniff(data []byte) (*format, error) {
	switch name := imagerules.Sniff(data); name {
	case FormatJPEG:
		return jpegFormat, nil
	case FormatPNG:
		return pngFormat, nil
	case FormatBMP:
		return bmpFormat, nil
	case "":
		if len(data) == 0 {
			return nil, fmt.Errorf("%w: the file is empty", ErrCorrupt)
		}
		head := data[:min(len(data), 8)]
		return nil, fmt.Errorf("%w: not a jpg, png or bmp file (it starts with % x)", ErrUnsupportedFormat, head)
	default:
		return nil, unsupportedErr(imagerules.Label(name))
	}
}

func unsupportedErr(name string) error {
	return fmt.Errorf("%w: %s is not supported (%s)", ErrUnsupportedFormat, name, supportedList)
}

// header sniffs the format, reads the header and checks the declared size
// against lim. cost is what decoding will allocate, in bytes (decodeCost).
func header(data []byte, lim limits) (f *format, cfg image.Config, cost int64, err error) {
	f, err = sniff(data)
	if err != nil {
		return nil, image.Config{}, 0, err
	}
	cfg, err = f.config(bytes.NewReader(data))
	if err != nil {
		return nil, image.Config{}, 0, f.wrap(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, image.Config{}, 0, fmt.Errorf("%w: %s says it is %dx%d pixels", ErrCorrupt, f.label, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > lim.pixels {
		return nil, image.Config{}, 0, fmt.Errorf("%w: %s is %dx%d pixels, over the limit of %d megapixels; scale it down",
			ErrTooLarge, f.label, cfg.Width, cfg.Height, lim.pixels/1_000_000)
	}
	cost = decodeCost(f, data, cfg)
	if cost > lim.bytes {
		return nil, image.Config{}, 0, fmt.Errorf("%w: %s is %dx%d pixels and would take about %d MB of memory to decode, "+
			"over the limit of %d MB; scale it down or save it with 8 bits per channel",
			ErrTooLarge, f.label, cfg.Width, cfg.Height, (cost+1<<20-1)>>20, lim.bytes>>20)
	}
	return f, cfg, cost, nil
}

func decode(data []byte, lim limits) (image.Image, error) {
	img, release, err := decodeHeld(context.Background(), data, lim, nil)
	if err != nil {
		return nil, err
	}
	release()
	return img, nil
}

// decodeHeld decodes data holding its estimate of the DecodeBudget, plus
// extra(width, height) of the upright image for what the caller will
// allocate to use it (nil: nothing), and returns the image with the
// function that gives the budget back. It waits for the budget until ctx
// is done.
func decodeHeld(ctx context.Context, data []byte, lim limits, extra func(w, h int) int64) (image.Image, func(), error) {
	f, cfg, cost, err := header(data, lim)
	if err != nil {
		return nil, nil, err
	}
	orientation := 1
	if f == jpegFormat {
		orientation = exifOrientation(data)
	}
	if extra != nil {
		w, h := cfg.Width, cfg.Height
		if orientation >= 5 {
			w, h = h, w
		}
		if cost += extra(w, h); cost > lim.bytes {
			return nil, nil, fmt.Errorf("%w: %s is %dx%d pixels and would take about %d MB of memory to decode and resize, "+
				"over the limit of %d MB; scale it down", ErrTooLarge, f.label, w, h, (cost+1<<20-1)>>20, lim.bytes>>20)
		}
	}
	release, err := decoding.acquire(ctx, cost)
	if err != nil {
		return nil, nil, err
	}
	img, err := f.decode(bytes.NewReader(data))
	if err != nil {
		release()
		return nil, nil, f.wrap(err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		release()
		return nil, nil, fmt.Errorf("%w: %s header says %dx%d but the pixels are %dx%d",
			ErrCorrupt, f.label, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	if orientation > 1 {
		img = orient(img, orientation)
	}
	return img, release, nil
}

// wrap sorts a decoder error into ErrUnsupportedFormat (a variant the Go
// decoders do not implement, e.g. arithmetic-coded JPEG, 16-bit BMP) or
// ErrCorrupt (everything else: truncated, malformed).
func (f *format) wrap(err error) error {
	var (
		ju jpeg.UnsupportedError
		pu png.UnsupportedError
	)
	if errors.As(err, &ju) || errors.As(err, &pu) || errors.Is(err, bmp.ErrUnsupported) {
		return fmt.Errorf("%w: this %s variant is not supported (%v); re-save it as a plain jpg or png",
			ErrUnsupportedFormat, f.label, err)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.label, err)
}
