package server

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
)

// Multipart image uploads: 数据中心's "add images" and the prediction
// endpoints read their "file" parts here.

type partFile struct {
	name string
	data []byte
}

// readImageParts reads up to max `file` parts, each at most
// imagerules.MaxFileSize+1 bytes (the rule check names the oversize ones).
func readImageParts(c *gin.Context, max int) ([]partFile, bool) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		fail(c, api.CodeInvalidMultipart, "want multipart/form-data with one or more \"file\" parts: "+err.Error())
		return nil, false
	}
	var files []partFile
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, failPart(c, err)
		}
		if part.FormName() != "file" {
			_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<20))
			continue
		}
		if len(files) == max {
			failf(c, api.CodeTooManyFiles, "at most %d files per request", max)
			return nil, false
		}
		b, err := io.ReadAll(io.LimitReader(part, imagerules.MaxFileSize+1))
		if err != nil {
			return nil, failPart(c, err)
		}
		_, _ = io.Copy(io.Discard, part) // the rest of an oversize file
		files = append(files, partFile{name: partName(part, len(files)), data: b})
	}
	if len(files) == 0 {
		fail(c, api.CodeMissingFile, "no \"file\" part in the request")
		return nil, false
	}
	return files, true
}

func failPart(c *gin.Context, err error) bool {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		failf(c, api.CodeTooLarge, "request body over %d bytes", mb.Limit)
		return false
	}
	fail(c, api.CodeInvalidMultipart, "reading the request: "+err.Error())
	return false
}

func partName(p *multipart.Part, i int) string {
	if n := p.FileName(); n != "" {
		return filepath.Base(n)
	}
	return fmt.Sprintf("file-%d", i+1)
}

// readPredictParts reads up to max `file` parts of a multipart prediction
// request; each is checked later, on its own.
func readPredictParts(c *gin.Context, max int) ([]partFile, *api.Error) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, api.Errorf(api.CodeBadForm, "want multipart/form-data with one or more \"file\" parts: %v", err)
	}
	var files []partFile
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, partError(err)
		}
		if part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return nil, partError(err)
			}
			continue
		}
		if len(files) == max {
			return nil, api.Errorf(api.CodeTooManyFiles, "too many files: at most %d images per request; send the rest in another request", max)
		}
		b, err := io.ReadAll(io.LimitReader(part, api.MaxImageBytes+1))
		if err == nil {
			_, err = io.Copy(io.Discard, part) // the rest of an oversize file
		}
		if err != nil {
			return nil, partError(err)
		}
		files = append(files, partFile{name: partName(part, len(files)), data: b})
	}
	if len(files) == 0 {
		return nil, api.Errorf(api.CodeNoFiles, "no files: send one or more images as multipart form parts named file")
	}
	return files, nil
}

// rawBody names the one image of a request whose body is the image.
const rawBody = "body"

// bodyError is the answer when reading a raw image body failed.
func bodyError(c *gin.Context, err error) *api.Error {
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return api.Errorf(api.CodeTooLarge, "the request is larger than %d bytes: send a smaller image", mb.Limit)
	case c.Request.Context().Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		return api.Errorf(api.CodeTimeout, "the image did not arrive in time: send it faster or smaller")
	}
	return api.Errorf(api.CodeBadRequest, "reading the request body: %v", err)
}

func partError(err error) *api.Error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return api.Errorf(api.CodeTooLarge, "the request is larger than %d bytes in all: send fewer images per request", mb.Limit)
	}
	return api.Errorf(api.CodeBadForm, "reading the multipart body: %v", err)
}
