package httpapi

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/inference"
)

// Error codes in the "code" field of error responses: the table in
// protocol/api, shared with the control plane's /infer, so the same bad
// input gets the same code and status from both.
const (
	CodeEmptyBody         = api.CodeEmptyBody
	CodeNotAnImage        = api.CodeNotAnImage
	CodeUnsupportedFormat = api.CodeUnsupportedFormat
	CodeCorrupt           = api.CodeCorrupt
	CodeTooLarge          = api.CodeTooLarge
	CodeTooManyFiles      = api.CodeTooManyFiles
	CodeNoFiles           = api.CodeNoFiles
	CodeBadForm           = api.CodeBadForm
	CodeBadTopK           = api.CodeBadTopK
	CodeBadThreshold      = api.CodeBadThreshold
	CodeBadRequest        = api.CodeBadRequest
	CodeUnavailable       = api.CodeUnavailable
	CodeBusy              = api.CodeBusy // workers and queue full (429); retry after Retry-After
	CodeUnauthorized      = api.CodeUnauthorized
	CodeTimeout           = api.CodeTimeout
	CodeCancelled         = api.CodeCancelled
	CodeInference         = api.CodeInference
	CodeNotFound          = api.CodeNotFound
	CodeMethod            = api.CodeMethod
	CodeInternal          = api.CodeInternal
)

// ErrorResponse is the body of every error answer.
type ErrorResponse = api.Error

// apiError is an error body with the status its code has.
type apiError = api.Error

func newError(code api.Code, msg string) *apiError { return &api.Error{Code: code, Message: msg} }

// abort answers the request with e.
func abort(c *gin.Context, e *apiError) {
	c.Set(ctxErrorCode, string(e.Code))
	c.AbortWithStatusJSON(e.Status(), e)
}

// fromRunner maps an error from the runner or the plugin to an answer.
func fromRunner(err error) *apiError {
	switch {
	case errors.Is(err, runner.ErrUnavailable):
		return newError(CodeUnavailable, err.Error())
	case errors.Is(err, inference.ErrBadRequest):
		return newError(CodeBadRequest, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return newError(CodeTimeout, "the model did not answer in time: "+err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this.
		return newError(CodeCancelled, "request cancelled: "+err.Error())
	}
	return newError(CodeInference, "inference failed: "+err.Error())
}
