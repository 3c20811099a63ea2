package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// supported says which image formats the plugin decodes, for messages.
const supported = "send a JPEG, PNG or BMP image"

// sniffImage checks from its first bytes that data is an image the plugin
// decodes (jpg, png, bmp), whatever the request's Content-Type said. what
// names the image in the message ("the request body", "file x.gif").
func sniffImage(data []byte, what string) *apiError {
	if len(data) == 0 {
		return newError(http.StatusBadRequest, CodeEmptyBody, fmt.Sprintf("%s is empty: %s", what, supported))
	}
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}),
		bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")),
		len(data) >= 26 && bytes.HasPrefix(data, []byte("BM")):
		return nil
	}
	if name := knownUnsupported(data); name != "" {
		return newError(http.StatusUnsupportedMediaType, CodeUnsupportedImage,
			fmt.Sprintf("%s is a %s image, which is not supported: %s (re-save it as .jpg or .png)", what, name, supported))
	}
	kind := http.DetectContentType(data)
	if i := strings.IndexByte(kind, ';'); i >= 0 {
		kind = kind[:i]
	}
	return newError(http.StatusUnsupportedMediaType, CodeNotAnImage,
		fmt.Sprintf("%s is not an image (its bytes look like %s, starting % x): %s as the raw file bytes", what, kind, head(data), supported))
}

// knownUnsupported names image formats people commonly send that the
// plugin does not decode.
func knownUnsupported(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "GIF"
	case len(b) >= 12 && bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WEBP":
		return "WebP"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "TIFF"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "avif", "avis":
			return "AVIF"
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "HEIC/HEIF"
		}
	case bytes.HasPrefix(b, []byte{0x00, 0x00, 0x01, 0x00}):
		return "ICO"
	case bytes.HasPrefix(b, []byte("<svg")), bytes.HasPrefix(b, []byte("<?xml")) && bytes.Contains(b[:min(len(b), 512)], []byte("<svg")):
		return "SVG"
	}
	return ""
}

func head(b []byte) []byte { return b[:min(len(b), 8)] }
