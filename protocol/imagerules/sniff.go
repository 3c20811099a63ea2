package imagerules

import (
	"bytes"
	"path"
	"slices"
	"strings"
)

var (
	formats    = []string{"jpeg", "png", "bmp"}
	extensions = []string{".jpg", ".jpeg", ".png", ".bmp"}
)

// Formats lists the supported formats as Sniff names them.
func Formats() []string { return slices.Clone(formats) }

// Extensions lists the file extensions of the supported formats. They are
// a hint to users only: Check decides by content, so a PNG saved as .jpg is
// accepted and a GIF saved as .jpg is not.
func Extensions() []string { return slices.Clone(extensions) }

// otherImageExtensions are images in formats we do not accept. Files named
// so are checked (and come out UnsupportedFormat) rather than reported as
// NotAnImage, so a user learns that the format is the problem.
var otherImageExtensions = []string{
	".gif", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".ico",
	".jfif", ".jpe", ".svg", ".psd", ".raw", ".dng", ".cr2", ".nef",
}

// signature is a format's magic bytes at an offset.
type signature struct {
	format string
	offset int
	magic  string
}

var signatures = []signature{
	{"jpeg", 0, "\xff\xd8\xff"},
	{"png", 0, "\x89PNG\r\n\x1a\n"},
	{"bmp", 0, "BM"},
	{"gif", 0, "GIF87a"},
	{"gif", 0, "GIF89a"},
	{"webp", 8, "WEBP"}, // after "RIFF" and a length
	{"tiff", 0, "II*\x00"},
	{"tiff", 0, "MM\x00*"},
	{"ico", 0, "\x00\x00\x01\x00"},
	{"heif", 4, "ftypheic"},
	{"heif", 4, "ftypheix"},
	{"heif", 4, "ftypmif1"},
	{"avif", 4, "ftypavif"},
}

// Sniff names the image format of a file's content from its first bytes:
// "jpeg", "png" or "bmp" (the supported ones), or "gif", "webp", "tiff",
// "ico", "heif", "avif", or "" when it does not recognise them. Only the
// magic bytes are looked at; the decoders judge the rest.
func Sniff(b []byte) string {
	for _, s := range signatures {
		if len(b) >= s.offset+len(s.magic) && string(b[s.offset:s.offset+len(s.magic)]) == s.magic {
			if s.format == "webp" && !bytes.HasPrefix(b, []byte("RIFF")) {
				continue
			}
			return s.format
		}
	}
	return ""
}

// ext returns the lower-case extension of a file name, with the dot. Both
// "/" and "\" separate folders (zip entries made on Windows use "\").
func ext(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return strings.ToLower(path.Ext(name))
}

// HasSupportedExtension reports whether name ends in one of Extensions(),
// in any case.
func HasSupportedExtension(name string) bool {
	return slices.Contains(extensions, ext(name))
}

// IsImageName reports whether name looks like an image file by its
// extension, supported or not. An importer reports files named otherwise
// (notes.txt, Thumbs.db, .DS_Store) as NotAnImage without reading them,
// and runs Check on the rest, where the content decides.
func IsImageName(name string) bool {
	e := ext(name)
	return slices.Contains(extensions, e) || slices.Contains(otherImageExtensions, e)
}
