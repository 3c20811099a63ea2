package imagerules

import (
	"bytes"
	"encoding/binary"
	"path"
	"slices"
	"strings"
)

// This file holds AutoCV's one image-format sniffer. Dataset import (Check),
// the ONNX plugin's decoder (plugins/onnx/preprocess) and the agent's HTTP
// API all call Sniff, so one file gets the same verdict everywhere.

// Format names Sniff returns. The first three are the supported formats;
// the rest are recognised so that a refusal can name them.
const (
	FormatJPEG     = "jpeg"
	FormatPNG      = "png"
	FormatBMP      = "bmp"
	FormatGIF      = "gif"
	FormatWebP     = "webp"
	FormatTIFF     = "tiff"
	FormatICO      = "ico"
	FormatHEIF     = "heif" // HEIC and other HEIF brands
	FormatAVIF     = "avif"
	FormatJPEG2000 = "jpeg2000"
	FormatJPEGXL   = "jpegxl"
	FormatPSD      = "psd"
	FormatSVG      = "svg"
	FormatPDF      = "pdf"
)

var (
	formats    = []string{FormatJPEG, FormatPNG, FormatBMP}
	extensions = []string{".jpg", ".jpeg", ".png", ".bmp"}
)

// labels are the names people know the formats by, for messages.
var labels = map[string]string{
	FormatJPEG: "JPEG", FormatPNG: "PNG", FormatBMP: "BMP", FormatGIF: "GIF",
	FormatWebP: "WebP", FormatTIFF: "TIFF", FormatICO: "ICO", FormatHEIF: "HEIC/HEIF",
	FormatAVIF: "AVIF", FormatJPEG2000: "JPEG 2000", FormatJPEGXL: "JPEG XL",
	FormatPSD: "Photoshop (PSD)", FormatSVG: "SVG", FormatPDF: "PDF",
}

// Formats lists the supported formats as Sniff names them.
func Formats() []string { return slices.Clone(formats) }

// Supported reports whether format, as Sniff names it, is one AutoCV
// decodes: jpeg, png or bmp.
func Supported(format string) bool { return slices.Contains(formats, format) }

// Label is the name people know a format by ("JPEG", "HEIC/HEIF",
// "Photoshop (PSD)"), for messages; "" for "".
func Label(format string) string {
	if l, ok := labels[format]; ok {
		return l
	}
	return format
}

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

// signature is a format's magic bytes at the start of a file.
type signature struct {
	format string
	magic  string
}

var signatures = []signature{
	{FormatJPEG, "\xff\xd8\xff"},
	{FormatPNG, "\x89PNG\r\n\x1a\n"},
	{FormatGIF, "GIF87a"},
	{FormatGIF, "GIF89a"},
	{FormatTIFF, "II*\x00"},
	{FormatTIFF, "MM\x00*"},
	{FormatICO, "\x00\x00\x01\x00"},
	{FormatJPEG2000, "\x00\x00\x00\x0cjP  \r\n\x87\n"}, // JP2 signature box
	{FormatJPEG2000, "\xff\x4f\xff\x51"},               // raw codestream: SOC, SIZ
	{FormatJPEGXL, "\x00\x00\x00\x0cJXL \r\n\x87\n"},   // container
	{FormatJPEGXL, "\xff\x0a"},                         // raw codestream
	{FormatPSD, "8BPS"},
	{FormatPDF, "%PDF-"},
	{FormatSVG, "<svg"},
}

// ISO base media (ftyp) brands of HEIF and AVIF files.
var (
	heifBrands = []string{"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"}
	avifBrands = []string{"avif", "avis"}
)

// bmpInfoSizes are the DIB header sizes that follow a BMP's 14-byte file
// header: OS/2 1.x and Windows core (12), OS/2 2.x (16, 64), Windows
// BITMAPINFOHEADER (40), its Adobe extensions (52, 56), V4 (108), V5 (124).
var bmpInfoSizes = []uint32{12, 16, 40, 52, 56, 64, 108, 124}

// Sniff names the image format of a file's content from its first bytes:
// FormatJPEG, FormatPNG or FormatBMP (the Supported ones), another Format
// constant for a format it recognises (gif, webp, tiff, ico, heif, avif,
// jpeg2000, jpegxl, psd, svg, pdf), or "" when it recognises none. Only
// the magic bytes are looked at; the decoders judge the rest.
//
// "BM" alone is not enough for a BMP: the 14-byte file header must be
// followed by a known DIB header size, so text that starts with "BM" is
// not taken for a broken bitmap.
func Sniff(b []byte) string {
	for _, s := range signatures {
		if bytes.HasPrefix(b, []byte(s.magic)) {
			return s.format
		}
	}
	switch {
	case len(b) >= 18 && string(b[:2]) == "BM" && slices.Contains(bmpInfoSizes, binary.LittleEndian.Uint32(b[14:18])):
		return FormatBMP
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return FormatWebP
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return isoBrand(b)
	case bytes.HasPrefix(b, []byte("<?xml")) && bytes.Contains(b[:min(len(b), 1024)], []byte("<svg")):
		return FormatSVG
	}
	return ""
}

// isoBrand sorts an ISO base media file (b[4:8] is "ftyp") by its major
// brand and, for the generic HEIF brands mif1 and msf1, by its compatible
// brands: an AVIF often has the major brand mif1 and lists avif after it.
// Other ISO media (MP4 and QuickTime videos, …) are "".
func isoBrand(b []byte) string {
	major := string(b[8:12])
	switch {
	case slices.Contains(avifBrands, major):
		return FormatAVIF
	case !slices.Contains(heifBrands, major):
		return ""
	case major != "mif1" && major != "msf1":
		return FormatHEIF
	}
	// The ftyp box: size, "ftyp", major brand, minor version, compatible
	// brands to the end of the box.
	end := min(int(binary.BigEndian.Uint32(b)), len(b))
	for i := 16; i+4 <= end; i += 4 {
		if slices.Contains(avifBrands, string(b[i:i+4])) {
			return FormatAVIF
		}
	}
	return FormatHEIF
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
