package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/inference"
)

// Error codes in the "code" field of error responses. Scripts match on
// these; the "error" text is for people and may change.
const (
	CodeEmptyBody        = "empty_body"
	CodeNotAnImage       = "not_an_image"
	CodeUnsupportedImage = "unsupported_image"
	CodeTooLarge         = "too_large"
	CodeTooManyFiles     = "too_many_files"
	CodeNoFiles          = "no_files"
	CodeBadForm          = "bad_form"
	CodeBadTopK          = "bad_top_k"
	CodeBadImage         = "bad_image" // the plugin could not decode it
	CodeBadRequest       = "bad_request"
	CodeUnavailable      = "model_unavailable"
	CodeBusy             = "busy" // workers and queue full (429); retry after Retry-After
	CodeUnauthorized     = "unauthorized"
	CodeTimeout          = "timeout"
	CodeInference        = "inference_failed"
	CodeNotFound         = "not_found"
	CodeMethod           = "method_not_allowed"
	CodeInternal         = "internal"
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// apiError is an error with the HTTP status and code it is answered with.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

// abort answers the request with e.
func abort(c *gin.Context, e *apiError) {
	c.Set(ctxErrorCode, e.code)
	c.AbortWithStatusJSON(e.status, ErrorResponse{Error: e.msg, Code: e.code})
}

// fromRunner maps an error from the runner or the plugin to an answer.
func fromRunner(err error) *apiError {
	switch {
	case errors.Is(err, runner.ErrUnavailable):
		return newError(http.StatusServiceUnavailable, CodeUnavailable, err.Error())
	case errors.Is(err, inference.ErrBadRequest):
		return newError(http.StatusBadRequest, CodeBadRequest, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, CodeTimeout, "the model did not answer in time: "+err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this.
		return newError(499, CodeTimeout, "request cancelled: "+err.Error())
	}
	return newError(http.StatusInternalServerError, CodeInference, "inference failed: "+err.Error())
}
