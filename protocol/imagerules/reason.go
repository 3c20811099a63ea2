package imagerules

import (
	"fmt"
	"strings"
)

// Reason is the outcome of checking one image: OK, or which rule it broke.
// The values are stable codes that appear in import reports, in the REST
// API and in logs; never change one, only append.
type Reason string

// Reasons. Check tests size, then format, then the header, then the
// dimensions, and decodes the pixels last.
const (
	OK                Reason = "ok"
	NotAnImage        Reason = "not_an_image"       // the name is not an image's (see IsImageName); Check never returns it
	TooLarge          Reason = "too_large"          // file over MaxFileSize
	UnsupportedFormat Reason = "unsupported_format" // content is not jpeg, png or bmp, or a variant the decoders lack
	Corrupt           Reason = "corrupt"            // header or pixel data does not decode
	TooLongSide       Reason = "too_long_side"      // longest side ≥ MaxSide
	TooShortSide      Reason = "too_short_side"     // shortest side ≤ MinSide
	BadAspectRatio    Reason = "bad_aspect_ratio"   // longest side > MaxAspect × shortest side
)

// Reasons lists every Reason.
func Reasons() []Reason {
	return []Reason{OK, NotAnImage, TooLarge, UnsupportedFormat, Corrupt, TooLongSide, TooShortSide, BadAspectRatio}
}

// Languages Message knows.
const (
	LangEN = "en"
	LangZH = "zh-CN"
)

var messages = map[Reason][2]string{ // en, zh-CN
	OK:                {"image accepted", "图片符合要求"},
	NotAnImage:        {"not an image file", "不是图片文件"},
	TooLarge:          {"file is too large: at most 4 MB", "文件过大：不能超过 4 MB"},
	UnsupportedFormat: {"unsupported format: use jpg, jpeg, png or bmp", "格式不支持：请使用 jpg、jpeg、png 或 bmp"},
	Corrupt:           {"image is damaged and cannot be decoded", "图片已损坏，无法解码"},
	TooLongSide:       {"image is too big: the longest side must be under 4096 pixels", "图片尺寸过大：最长边须小于 4096 像素"},
	TooShortSide:      {"image is too small: the shortest side must be over 30 pixels", "图片尺寸过小：最短边须大于 30 像素"},
	BadAspectRatio:    {"image is too long and narrow: the aspect ratio may be at most 3:1", "图片过于狭长：宽高比不能超过 3:1"},
}

// isZH reports whether lang (a BCP 47 tag such as "zh-CN", "zh-Hans", "zh")
// asks for Chinese. Every other language gets English.
func isZH(lang string) bool {
	l := strings.ToLower(lang)
	return l == "zh" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_")
}

// Message returns a sentence a user can read explaining the reason, in
// Chinese for lang "zh-CN" (or any "zh" tag) and English otherwise.
func (r Reason) Message(lang string) string {
	m, ok := messages[r]
	if !ok {
		return string(r)
	}
	if isZH(lang) {
		return m[1]
	}
	return m[0]
}

// Valid reports whether r is a known reason.
func (r Reason) Valid() bool {
	_, ok := messages[r]
	return ok
}

// Result is what Check found out about one file.
type Result struct {
	Reason Reason
	// Format is the format the content was sniffed as (see Sniff):
	// "jpeg", "png" or "bmp", a recognised unsupported one ("gif", "webp",
	// "heif", "pdf", …), or "" when unknown or not read.
	Format string
	// Width and Height are the pixel dimensions from the image header,
	// zero when the header was not read.
	Width, Height int
	// Size is the file size in bytes as far as it was read (or as declared,
	// for TooLarge).
	Size int64
	// Err holds the decoder's error for Corrupt and for UnsupportedFormat
	// variants, for logs; it is not for users.
	Err error
}

// OK reports whether the image passed every rule.
func (r Result) OK() bool { return r.Reason == OK }

// Message explains the result to a user, with the numbers that broke the
// rule, in Chinese for "zh-CN" and English otherwise.
func (r Result) Message(lang string) string {
	zh := isZH(lang)
	msg := r.Reason.Message(lang)
	var detail string
	switch r.Reason {
	case TooLarge:
		detail = fmt.Sprintf("%.1f MB", float64(r.Size)/(1<<20))
	case UnsupportedFormat:
		if r.Format != "" {
			detail = r.Format
		}
	case TooLongSide, TooShortSide, BadAspectRatio:
		detail = fmt.Sprintf("%d×%d", r.Width, r.Height)
	}
	if detail == "" {
		return msg
	}
	if zh {
		return msg + "（" + detail + "）"
	}
	return msg + " (" + detail + ")"
}
