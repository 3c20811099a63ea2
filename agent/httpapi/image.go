package httpapi

import "github.com/autocv/autocv/protocol/api"

// sniffImage checks from its first bytes that data is an image the plugin
// decodes (jpg, png, bmp), whatever the request's Content-Type said, with
// the control plane's check (api.CheckImage), so both answer a bad image
// alike. what names the image in the message ("the request body", "file
// x.gif").
func sniffImage(data []byte, what string) *apiError { return api.CheckImage(data, what) }
