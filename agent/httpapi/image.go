package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/autocv/autocv/protocol/imagerules"
)

// supported says which image formats the plugin decodes, for messages.
const supported = "send a JPEG, PNG or BMP image"

// sniffImage checks from its first bytes that data is an image the plugin
// decodes (jpg, png, bmp), whatever the request's Content-Type said. It
// uses imagerules.Sniff, the sniffer the plugin and dataset import use, so
// all three name a file's format alike. what names the image in the
// message ("the request body", "file x.gif").
func sniffImage(data []byte, what string) *apiError {
	if len(data) == 0 {
		return newError(http.StatusBadRequest, CodeEmptyBody, fmt.Sprintf("%s is empty: %s", what, supported))
	}
	format := imagerules.Sniff(data)
	switch {
	case imagerules.Supported(format):
		return nil
	case format != "":
		return newError(http.StatusUnsupportedMediaType, CodeUnsupportedImage,
			fmt.Sprintf("%s is a %s file, which is not supported: %s (re-save it as .jpg or .png)", what, imagerules.Label(format), supported))
	}
	kind := http.DetectContentType(data)
	if i := strings.IndexByte(kind, ';'); i >= 0 {
		kind = kind[:i]
	}
	return newError(http.StatusUnsupportedMediaType, CodeNotAnImage,
		fmt.Sprintf("%s is not an image (its bytes look like %s, starting % x): %s as the raw file bytes", what, kind, head(data), supported))
}

func head(b []byte) []byte { return b[:min(len(b), 8)] }
