package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
)

// MaxPixels is the largest image (width × height, in pixels) Decode accepts.
// The limit is checked from the header before any pixel memory is
// allocated, so a small file that claims a huge image (a decompression
// bomb) costs nothing.
const MaxPixels = 50_000_000

// Errors returned by Decode and DecodeConfig, wrapped with details; test
// them with errors.Is.
var (
	ErrUnsupportedFormat = errors.New("unsupported image format")
	ErrCorrupt           = errors.New("corrupt image")
	ErrTooLarge          = errors.New("image too large")
)

// Format names returned by DecodeConfig.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatBMP  = "bmp"
)

const supportedList = "use jpg, png or bmp"

// Decode decodes a JPEG, PNG or BMP photo, recognised from its bytes
// whatever its file name says, and returns it upright: a JPEG's EXIF
// orientation is applied. The image type is the decoder's (*image.YCbCr,
// *image.Gray, *image.CMYK, *image.Paletted, *image.RGBA, *image.NRGBA, the
// 16-bit types) or, for a JPEG whose orientation is not 1, an opaque
// *image.RGBA. Alpha is left in the image; Tensor composites it over white.
func Decode(data []byte) (image.Image, error) {
	return decode(data, MaxPixels)
}

// DecodeConfig reads only the header: the upright size (EXIF orientations
// 5-8 swap width and height) and the format, one of FormatJPEG, FormatPNG,
// FormatBMP. It applies the same checks as Decode short of decoding pixels.
func DecodeConfig(data []byte) (image.Config, string, error) {
	f, cfg, err := header(data, MaxPixels)
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

// unsupported lists formats people send that we recognise but refuse, so
// the error can name them.
var unsupported = []struct{ magic, name string }{
	{"GIF87a", "GIF"},
	{"GIF89a", "GIF"},
	{"II*\x00", "TIFF"},
	{"MM\x00*", "TIFF"},
	{"%PDF", "PDF"},
	{"\x00\x00\x01\x00", "ICO"},
	{"\x00\x00\x00\x0cjP  ", "JPEG 2000"},
	{"\xff\x4f\xff\x51", "JPEG 2000"},
	{"8BPS", "Photoshop (PSD)"},
	{"PK\x03\x04", "ZIP"},
	{"\xff\x0a", "JPEG XL"},
	{"<svg", "SVG"},
	{"<?xml", "XML/SVG"},
}

// sniff recognises the format from the first bytes.
func sniff(data []byte) (*format, error) {
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("%w: the file is empty", ErrCorrupt)
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return jpegFormat, nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return pngFormat, nil
	case bytes.HasPrefix(data, []byte("BM")):
		return bmpFormat, nil
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return nil, unsupportedErr("WebP")
	case len(data) >= 12 && string(data[4:8]) == "ftyp":
		switch string(data[8:12]) {
		case "avif", "avis":
			return nil, unsupportedErr("AVIF")
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return nil, unsupportedErr("HEIC/HEIF")
		}
		return nil, unsupportedErr("a video/ISO media file")
	}
	for _, u := range unsupported {
		if bytes.HasPrefix(data, []byte(u.magic)) {
			return nil, unsupportedErr(u.name)
		}
	}
	head := data[:min(len(data), 8)]
	return nil, fmt.Errorf("%w: not a jpg, png or bmp file (it starts with % x)", ErrUnsupportedFormat, head)
}

func unsupportedErr(name string) error {
	return fmt.Errorf("%w: %s is not supported (%s)", ErrUnsupportedFormat, name, supportedList)
}

// header sniffs the format and checks the declared size against maxPixels.
func header(data []byte, maxPixels int) (*format, image.Config, error) {
	f, err := sniff(data)
	if err != nil {
		return nil, image.Config{}, err
	}
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return nil, image.Config{}, f.wrap(err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, image.Config{}, fmt.Errorf("%w: %s says it is %dx%d pixels", ErrCorrupt, f.label, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, image.Config{}, fmt.Errorf("%w: %s is %dx%d pixels, over the limit of %d megapixels",
			ErrTooLarge, f.label, cfg.Width, cfg.Height, maxPixels/1_000_000)
	}
	return f, cfg, nil
}

func decode(data []byte, maxPixels int) (image.Image, error) {
	f, cfg, err := header(data, maxPixels)
	if err != nil {
		return nil, err
	}
	img, err := f.decode(bytes.NewReader(data))
	if err != nil {
		return nil, f.wrap(err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("%w: %s header says %dx%d but the pixels are %dx%d",
			ErrCorrupt, f.label, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	if f == jpegFormat {
		if o := exifOrientation(data); o > 1 {
			img = orient(img, o)
		}
	}
	return img, nil
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
