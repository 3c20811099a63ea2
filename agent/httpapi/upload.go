package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/protocol/api"
)

// The several-file answer is protocol/api's, shared with the control plane.
type (
	FileResult     = api.FileResult
	UploadResponse = api.BatchResponse
)

// filePart is one `file` part of an upload.
type filePart struct {
	name string
	data []byte
	err  *apiError // set when the part is not an image we can send
}

// upload answers POST /upload: multipart/form-data with one or more parts
// named file. One file gets the one-image answer (PredictResponse), several
// get UploadResponse.
func (s *Server) upload(c *gin.Context) {
	start := time.Now()
	q, apiErr := s.query(c)
	if apiErr != nil {
		abort(c, apiErr)
		return
	}
	parts, apiErr := s.readParts(c)
	if apiErr != nil {
		abort(c, apiErr)
		return
	}
	var images [][]byte
	var index []int // parts[index[i]] is images[i]
	for i, p := range parts {
		if p.err == nil {
			images = append(images, p.data)
			index = append(index, i)
		}
	}
	if len(parts) == 1 && parts[0].err != nil {
		abort(c, parts[0].err)
		return
	}
	resp := UploadResponse{Results: make([]FileResult, len(parts))}
	for i, p := range parts {
		resp.Results[i] = FileResult{File: p.name, Predictions: []Label{}}
		if p.err != nil {
			resp.Results[i].Error, resp.Results[i].Code = p.err.Message, p.err.Code
		}
	}
	if len(images) > 0 {
		res, apiErr := s.infer(c, images, q.topK)
		if apiErr != nil {
			abort(c, apiErr)
			return
		}
		resp.Model = modelRef(res.Model)
		for j, p := range res.Predictions {
			r := &resp.Results[index[j]]
			if p.Err != "" {
				e := api.DecodeError(fmt.Sprintf("file %q", r.File), p.ErrCode, p.Err)
				r.Error, r.Code = e.Message, e.Code
				continue
			}
			r.Predictions = s.labels(res.Model, p.Labels, q.threshold)
		}
	} else if st, err := s.run.Status(); err == nil {
		resp.Model = modelRef(st.Model)
	}
	resp.LatencyMS = millis(time.Since(start))

	if len(parts) == 1 {
		r := resp.Results[0]
		if r.Error != "" {
			abort(c, newError(r.Code, r.Error))
			return
		}
		c.JSON(http.StatusOK, PredictResponse{Model: resp.Model, Predictions: r.Predictions, LatencyMS: resp.LatencyMS})
		return
	}
	c.JSON(http.StatusOK, resp)
}

// readParts reads the file parts of a multipart upload, checking each
// image; other parts are skipped.
func (s *Server) readParts(c *gin.Context) ([]filePart, *apiError) {
	if c.Request.ContentLength > s.cfg.MaxUploadBytes {
		return nil, s.partError(c, &http.MaxBytesError{Limit: s.cfg.MaxUploadBytes})
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxUploadBytes)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, newError(CodeBadForm, fmt.Sprintf(
			"POST /upload wants a multipart/form-data body with one or more parts named file (got Content-Type %q: %v); "+
				"to send one raw image use POST /v1/predict", c.ContentType(), err))
	}
	var parts []filePart
	var others []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.partError(c, err)
		}
		if p.FormName() != "file" {
			others = append(others, p.FormName())
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, s.partError(c, err)
			}
			continue
		}
		if len(parts) == s.cfg.MaxFiles {
			return nil, newError(CodeTooManyFiles, fmt.Sprintf(
				"too many files: at most %d images per request; send the rest in another request", s.cfg.MaxFiles))
		}
		fp := filePart{name: p.FileName()}
		if fp.name == "" {
			fp.name = fmt.Sprintf("file %d", len(parts)+1)
		}
		fp.data, err = io.ReadAll(io.LimitReader(p, s.cfg.MaxImageBytes+1))
		if err != nil {
			return nil, s.partError(c, err)
		}
		what := fmt.Sprintf("file %q", fp.name)
		if int64(len(fp.data)) > s.cfg.MaxImageBytes {
			fp.data, fp.err = nil, s.tooLarge(what)
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, s.partError(c, err)
			}
		} else if e := sniffImage(fp.data, what); e != nil {
			fp.data, fp.err = nil, e
		}
		parts = append(parts, fp)
	}
	// The rest (the epilogue after the last boundary) too: the whole body
	// is read before the request asks for a turn.
	if _, err := io.Copy(io.Discard, c.Request.Body); err != nil {
		return nil, s.partError(c, err)
	}
	if len(parts) == 0 {
		msg := "no files in the upload: send one or more images as multipart form parts named file"
		if len(others) > 0 {
			msg += fmt.Sprintf(" (got parts named %s)", strings.Join(quoteAll(others), ", "))
		}
		return nil, newError(CodeNoFiles, msg)
	}
	return parts, nil
}

// partError describes a failure reading the multipart body.
func (s *Server) partError(c *gin.Context, err error) *apiError {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return newError(CodeTooLarge, fmt.Sprintf(
			"the upload is larger than %s in all: send fewer images per request", size(s.cfg.MaxUploadBytes)))
	}
	if e := s.readTimeout(c, err); e != nil {
		return e
	}
	return newError(CodeBadForm, "reading the multipart body: "+err.Error())
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
