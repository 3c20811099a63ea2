package imagerules

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

// The rules.
const (
	MaxFileSize = 4 << 20 // bytes; a file of exactly 4 MiB is accepted
	MaxSide     = 4096    // the longest side must be below this
	MinSide     = 30      // the shortest side must be above this
	MaxAspect   = 3       // longest side ≤ MaxAspect × shortest side
)

// decoder is one supported format.
type decoder struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
	// unsupported reports whether err says "valid but a variant we lack".
	unsupported func(error) bool
}

var decoders = map[string]decoder{
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode, func(err error) bool {
		var u jpeg.UnsupportedError
		return errors.As(err, &u)
	}},
	"png": {png.DecodeConfig, png.Decode, func(err error) bool {
		var u png.UnsupportedError
		return errors.As(err, &u)
	}},
	"bmp": {bmp.DecodeConfig, bmp.Decode, func(err error) bool {
		return errors.Is(err, bmp.ErrUnsupported)
	}},
}

// Check reads one file and checks it against the dataset image rules.
// size is the file's size if known (a zip entry's declared size, a
// Content-Length), or -1; a known size over MaxFileSize is refused without
// reading, and in any case no more than MaxFileSize+1 bytes are read. A
// read error gives Corrupt with the error in Result.Err.
func Check(r io.Reader, size int64) Result {
	if size > MaxFileSize {
		return Result{Reason: TooLarge, Size: size}
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return Result{Reason: Corrupt, Size: int64(len(b)), Err: fmt.Errorf("read: %w", err)}
	}
	return CheckBytes(b)
}

// CheckBytes checks one whole file held in memory against the rules, the
// cheap ones first: the size; the format, by content, whatever the file is
// called; the dimensions from the image header; and only then a full
// decode of the pixels, so a header claiming a huge image costs nothing.
// The full decode allocates at most MaxSide² pixels (up to 128 MiB for a
// 16-bit RGBA PNG).
func CheckBytes(b []byte) Result {
	res, dec := checkHeader(b)
	if !res.OK() {
		return res
	}
	img, err := dec.decode(bytes.NewReader(b))
	if err != nil {
		return res.failed(dec, err)
	}
	if got := img.Bounds().Size(); got.X != res.Width || got.Y != res.Height {
		res.Reason = Corrupt
		res.Err = fmt.Errorf("%s: header says %dx%d, pixels are %dx%d", res.Format, res.Width, res.Height, got.X, got.Y)
	}
	return res
}

// CheckHeader is CheckBytes short of decoding the pixels: the size, the
// format and the header's dimensions. It is for a caller that decodes the
// image itself next (the trainer's feature extraction) and treats a decode
// failure as Corrupt, so each photo is decoded once.
func CheckHeader(b []byte) Result {
	res, _ := checkHeader(b)
	return res
}

func checkHeader(b []byte) (Result, decoder) {
	res := Result{Size: int64(len(b))}
	if len(b) > MaxFileSize {
		res.Reason = TooLarge
		return res, decoder{}
	}
	res.Format = Sniff(b)
	dec, ok := decoders[res.Format]
	if !ok {
		res.Reason = UnsupportedFormat
		return res, decoder{}
	}
	cfg, err := dec.config(bytes.NewReader(b))
	if err != nil {
		return res.failed(dec, err), dec
	}
	res.Width, res.Height = cfg.Width, cfg.Height
	res.Reason = Dimensions(cfg.Width, cfg.Height)
	return res, dec
}

// failed fills in a decoder error: Corrupt, or UnsupportedFormat for a
// valid variant the decoder lacks (e.g. an arithmetic-coded JPEG, an RLE
// BMP).
func (res Result) failed(dec decoder, err error) Result {
	res.Reason = Corrupt
	if dec.unsupported(err) {
		res.Reason = UnsupportedFormat
	}
	res.Err = err
	return res
}

// Dimensions checks the size rules on an image of w×h pixels: the longest
// side below MaxSide, the shortest above MinSide, and an aspect ratio of
// at most MaxAspect:1 (500×146 fails, 93×31 passes). A non-positive side
// is Corrupt.
func Dimensions(w, h int) Reason {
	long, short := max(w, h), min(w, h)
	switch {
	case short <= 0:
		return Corrupt
	case long >= MaxSide:
		return TooLongSide
	case short <= MinSide:
		return TooShortSide
	case long > MaxAspect*short:
		return BadAspectRatio
	}
	return OK
}
