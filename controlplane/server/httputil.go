package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// fail answers an error body, api.Error: its message is for people, its
// code stable for scripts, and the status the one api.Code gives it.
func fail(c *gin.Context, code api.Code, msg string) {
	c.AbortWithStatusJSON(code.Status(), api.Error{Message: msg, Code: code})
}

func failf(c *gin.Context, code api.Code, format string, args ...any) {
	fail(c, code, fmt.Sprintf(format, args...))
}

// internal logs err with the request id and answers 500 without details.
func (s *Server) internal(c *gin.Context, err error) {
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		c.Abort() // the client went away
		return
	}
	s.log.Error("request failed", zap.String("request_id", c.GetString(requestIDKey)),
		zap.String("path", c.FullPath()), zap.Error(err))
	fail(c, api.CodeInternal, "internal error (request id "+c.GetString(requestIDKey)+")")
}

// lookupError answers a failed read: 404 when the thing is not there.
func (s *Server) lookupError(c *gin.Context, err error, what string) {
	if errors.Is(err, store.ErrNotFound) {
		fail(c, api.CodeNotFound, what+" not found")
		return
	}
	s.internal(c, err)
}

// createError answers a failed insert: 409 when it clashes with a row
// already there.
func (s *Server) createError(c *gin.Context, err error) {
	if errors.Is(err, store.ErrConflict) {
		fail(c, api.CodeConflict, err.Error())
		return
	}
	s.internal(c, err)
}

// storeError maps the store's sentinel errors of a change to statuses.
func (s *Server) storeError(c *gin.Context, err error, what string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(c, api.CodeNotFound, what+" not found")
	case errors.Is(err, store.ErrConflict):
		fail(c, api.CodeConflict, err.Error())
	default:
		s.internal(c, err)
	}
}

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 1 << 20

// bindJSON decodes a JSON body strictly (unknown fields are an error, as
// are trailing bytes) and answers 400 naming the problem.
func bindJSON(c *gin.Context, v any) bool {
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, maxJSONBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		if errors.Is(err, io.EOF) {
			msg = "empty body; a JSON object is required"
		}
		fail(c, api.CodeInvalidJSON, "request body: "+msg)
		return false
	}
	if dec.More() {
		fail(c, api.CodeInvalidJSON, "request body: more than one JSON value")
		return false
	}
	return true
}

// pageParams reads page (from 1) and page_size (1..200, default 50).
func pageParams(c *gin.Context) (store.Page, int, int, bool) {
	page, size := 1, 50
	if v := c.Query("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			fail(c, api.CodeInvalid, "page must be a number ≥ 1")
			return store.Page{}, 0, 0, false
		}
		page = n
	}
	if v := c.Query("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			fail(c, api.CodeInvalid, "page_size must be 1–200")
			return store.Page{}, 0, 0, false
		}
		size = n
	}
	return store.Page{Offset: (page - 1) * size, Limit: size}, page, size, true
}

const requestIDKey = "autocv.request_id"

// requestID tags each request with an id (the caller's X-Request-ID when it
// is sane), echoes it and logs the request when it ends.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if len(id) == 0 || len(id) > 64 || !printableASCII(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-ID", id)
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	lvl := zap.DebugLevel
	if status >= 500 {
		lvl = zap.WarnLevel
	} else if c.Request.Method != http.MethodGet {
		lvl = zap.InfoLevel
	}
	if ce := s.log.Check(lvl, "http"); ce != nil {
		ce.Write(zap.String("request_id", id), zap.String("method", c.Request.Method),
			zap.String("path", c.Request.URL.Path), zap.Int("status", status),
			zap.Duration("took", time.Since(start)))
	}
	httpRequests.inc(c.FullPath(), status)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// limitBody caps a request body; handlers that stream uploads set their
// own bigger cap.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			failf(c, api.CodeTooLarge, "request body is %d bytes, at most %d allowed", c.Request.ContentLength, n)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		if n <= smallBody {
			// A small body that trickles in is an attack on the public
			// endpoints (login, enrol), not a slow network.
			_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(30 * time.Second))
		}
		c.Next()
	}
}

// timeout bounds a handler's context.
func timeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
