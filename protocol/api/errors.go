package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/autocv/autocv/protocol/imagerules"
	"github.com/autocv/autocv/protocol/inference"
)

// Code is the machine-readable "code" of an error body. Scripts match on
// codes; the "error" text is for people and may change. Each code has one
// HTTP status (Status), whichever server answers it.
type Code string

// Codes of the prediction endpoints (agent and cloud alike). An image's
// own problems are named as the import names them (imagerules.Reason).
const (
	CodeEmptyBody         Code = "empty_body"                       // no image bytes
	CodeNotAnImage        Code = Code(imagerules.NotAnImage)        // bytes of no image format
	CodeUnsupportedFormat Code = Code(imagerules.UnsupportedFormat) // an image format other than jpg, png, bmp
	CodeCorrupt           Code = Code(imagerules.Corrupt)           // a jpg/png/bmp that does not decode
	CodeTooLarge          Code = Code(imagerules.TooLarge)          // over the byte or pixel limit
	CodeTooManyFiles      Code = "too_many_files"                   // more files than one request may carry
	CodeNoFiles           Code = "no_files"                         // a multipart request without "file" parts
	CodeBadForm           Code = "bad_form"                         // a multipart body that does not parse
	CodeBadTopK           Code = "bad_top_k"                        // top_k not a whole number ≥ 1
	CodeBadThreshold      Code = "bad_threshold"                    // threshold not a number in [0, 1]
	CodeBadRequest        Code = "bad_request"                      // anything else wrong with the request
	CodeUnauthorized      Code = "unauthenticated"                  // no, wrong, revoked or expired credentials
	CodeForbidden         Code = "forbidden"                        // credentials that may not do this
	CodeNotFound          Code = "not_found"                        // no such path or thing
	CodeMethod            Code = "method_not_allowed"               // the path exists, the method does not
	CodeBusy              Code = "busy"                             // try again after Retry-After
	CodeOffline           Code = "offline"                          // a published service switched off
	CodeUnavailable       Code = "model_unavailable"                // no model loaded, or it is (re)starting
	CodeTimeout           Code = "timeout"                          // the request or the model ran out of time
	CodeInference         Code = "inference_failed"                 // the model failed on a good request
	CodeInternal          Code = "internal"                         // a fault on the server's side
	CodeCancelled         Code = "cancelled"                        // the client went away (status 499, never read)
)

// Codes of the control plane's other endpoints.
const (
	CodeInvalid            Code = "invalid"             // a field breaks its rule; the message names the field
	CodeInvalidJSON        Code = "invalid_json"        // a body that is not the JSON the endpoint takes
	CodeInvalidMultipart   Code = "invalid_multipart"   // a multipart body that does not parse
	CodeInvalidName        Code = "invalid_name"        // a dataset, model or service name breaks the name rule
	CodeInvalidAppType     Code = "invalid_app_type"    // not one of the application types
	CodeInvalidMetric      Code = "invalid_metric"      // not one of the selection metrics
	CodeInvalidPath        Code = "invalid_path"        // a cloud service path breaks the path rule
	CodeInvalidPlatform    Code = "invalid_platform"    // an SDK platform this server does not build
	CodeInvalidReport      Code = "invalid_report"      // a trainer's report.json that does not validate
	CodeInvalidSize        Code = "invalid_size"        // a resumable upload size out of range
	CodeInvalidPackage     Code = "invalid_package"     // a trainer's package that does not verify
	CodeMissingFile        Code = "missing_file"        // a multipart request without its file part
	CodeBadLabel           Code = "bad_label"           // a label name breaks the label rule
	CodeTooFewImages       Code = "too_few_images"      // a label under imagerules.MinImagesPerLabel
	CodeTooFewLabels       Code = "too_few_labels"      // fewer than two labels to train
	CodeTooManyLabels      Code = "too_many_labels"     // over imagerules.MaxLabels
	CodeUnknownLabel       Code = "unknown_label"       // a label the dataset does not have
	CodeUnsupportedVersion Code = "unsupported_version" // a report schema this server does not read
	CodeUploadFailed       Code = "upload_failed"       // the body broke off or did not match its size
	CodeWrongTarget        Code = "wrong_target"        // a cloud version published offline or the other way round
	CodeUploadIncomplete   Code = "upload_incomplete"   // an upload_id whose upload has not reached its size
	CodeEmptyFile          Code = "empty_file"          // an uploaded file of 0 bytes
	CodeChecksum           Code = "sha256_mismatch"     // an artifact that does not hash to what its sender said
	CodeBadCredentials     Code = "bad_credentials"     // wrong username or password
	CodeWrongPassword      Code = "wrong_password"      // the old password of a password change is wrong
	CodeBadToken           Code = "bad_token"           // an enrolment token unknown, used up or expired
	CodeCSRF               Code = "csrf"                // a console request without its CSRF header
	CodeImporting          Code = "importing"           // the dataset is still importing
	CodeConflict           Code = "conflict"            // the thing changed or exists already
	CodeDatasetNotReady    Code = "dataset_not_ready"   // a dataset to train from has not finished importing
	CodeInUse              Code = "in_use"              // still used by a job, a service or a device
	CodeNotReady           Code = "not_ready"           // the thing is not built or loaded yet
	CodeNotTrained         Code = "not_trained"         // the version has not succeeded
	CodeNotTraining        Code = "not_training"        // only queued or training versions can be stopped
	CodeOffsetMismatch     Code = "offset_mismatch"     // Upload-Offset is not where the upload stands
	CodePathTaken          Code = "path_taken"          // another service has that path
	CodeLeaseLost          Code = "lease_lost"          // the trainer's lease expired or moved on
	CodeRateLimited        Code = "rate_limited"        // too many failed logins; wait
	CodeLoadFailed         Code = "load_failed"         // the model would not load
	CodeMQTT               Code = "mqtt"                // the broker refused a publish
	CodeMQTTOff            Code = "mqtt_off"            // this server runs without a broker
	CodeServiceUnavailable Code = "unavailable"         // the server cannot do it just now; try again
	CodeNotAZip            Code = "not_a_zip"           // an uploaded dataset file that is not a readable zip
)

var statuses = map[Code]int{
	CodeEmptyBody: http.StatusBadRequest, CodeNotAnImage: http.StatusUnsupportedMediaType,
	CodeUnsupportedFormat: http.StatusUnsupportedMediaType, CodeCorrupt: http.StatusUnprocessableEntity,
	CodeTooLarge: http.StatusRequestEntityTooLarge, CodeTooManyFiles: http.StatusBadRequest,
	CodeNoFiles: http.StatusBadRequest, CodeBadForm: http.StatusBadRequest, CodeBadTopK: http.StatusBadRequest,
	CodeBadThreshold: http.StatusBadRequest, CodeBadRequest: http.StatusBadRequest,
	CodeUnauthorized: http.StatusUnauthorized, CodeForbidden: http.StatusForbidden, CodeNotFound: http.StatusNotFound,
	CodeMethod: http.StatusMethodNotAllowed, CodeBusy: http.StatusTooManyRequests,
	CodeOffline: http.StatusServiceUnavailable, CodeUnavailable: http.StatusServiceUnavailable,
	CodeTimeout: http.StatusGatewayTimeout, CodeInference: http.StatusInternalServerError,
	CodeInternal: http.StatusInternalServerError, CodeCancelled: 499,

	CodeInvalid: http.StatusBadRequest, CodeInvalidJSON: http.StatusBadRequest,
	CodeInvalidMultipart: http.StatusBadRequest, CodeInvalidName: http.StatusBadRequest,
	CodeInvalidAppType: http.StatusBadRequest, CodeInvalidMetric: http.StatusBadRequest,
	CodeInvalidPath: http.StatusBadRequest, CodeInvalidPlatform: http.StatusBadRequest,
	CodeInvalidReport: http.StatusBadRequest, CodeInvalidSize: http.StatusBadRequest,
	CodeInvalidPackage: http.StatusUnprocessableEntity, CodeMissingFile: http.StatusBadRequest,
	CodeBadLabel: http.StatusBadRequest, CodeTooFewImages: http.StatusBadRequest,
	CodeTooFewLabels: http.StatusBadRequest, CodeTooManyLabels: http.StatusBadRequest,
	CodeUnknownLabel: http.StatusBadRequest, CodeUnsupportedVersion: http.StatusBadRequest,
	CodeUploadFailed: http.StatusBadRequest, CodeWrongTarget: http.StatusBadRequest,
	CodeChecksum: http.StatusBadRequest, CodeUploadIncomplete: http.StatusBadRequest, CodeEmptyFile: http.StatusBadRequest, CodeBadCredentials: http.StatusUnauthorized, CodeWrongPassword: http.StatusForbidden,
	CodeBadToken: http.StatusUnauthorized, CodeCSRF: http.StatusForbidden,
	CodeImporting: http.StatusConflict, CodeConflict: http.StatusConflict,
	CodeDatasetNotReady: http.StatusConflict, CodeInUse: http.StatusConflict,
	CodeNotReady: http.StatusConflict, CodeNotTrained: http.StatusConflict,
	CodeNotTraining: http.StatusConflict, CodeOffsetMismatch: http.StatusConflict,
	CodePathTaken: http.StatusConflict, CodeLeaseLost: http.StatusGone,
	CodeRateLimited: http.StatusTooManyRequests, CodeLoadFailed: http.StatusBadGateway,
	CodeMQTT: http.StatusBadGateway, CodeMQTTOff: http.StatusServiceUnavailable,
	CodeServiceUnavailable: http.StatusServiceUnavailable, CodeNotAZip: http.StatusBadRequest,
}

// Codes lists every code in the table, sorted.
func Codes() []Code {
	out := make([]Code, 0, len(statuses))
	for c := range statuses {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Status is the HTTP status a code is answered with (500 for a code not in
// the table).
func (c Code) Status() int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is the body of every error answer.
type Error struct {
	Message string `json:"error" required:"true"`
	Code    Code   `json:"code" required:"true"`
}

func (e *Error) Error() string { return e.Message }

// Status is the HTTP status e is answered with.
func (e *Error) Status() int { return e.Code.Status() }

// Errorf builds an error body.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// supported says what an image may be, in both product languages.
const supported = "send a JPEG, PNG or BMP image / 请上传 JPG、PNG 或 BMP 图片"

// CheckImage looks at an image's first bytes, before any decoding: nil for
// a JPEG, PNG or BMP, else the error both servers answer. what names the
// image for people ("the request body", "file ant.jpg").
func CheckImage(data []byte, what string) *Error {
	if len(data) == 0 {
		return Errorf(CodeEmptyBody, "%s is empty: %s", what, supported)
	}
	format := imagerules.Sniff(data)
	switch {
	case imagerules.Supported(format):
		return nil
	case format != "":
		return Errorf(CodeUnsupportedFormat, "%s is a %s file, which is not supported: %s (re-save it as .jpg or .png)",
			what, imagerules.Label(format), supported)
	}
	kind, _, _ := strings.Cut(http.DetectContentType(data), ";")
	return Errorf(CodeNotAnImage, "%s is not an image (its bytes look like %s, starting % x): %s as the raw file bytes",
		what, kind, data[:min(len(data), 8)], supported)
}

// DecodeError is the answer for an image the inference plugin could not
// decode: code is the plugin's reason (inference.Image…, "" from a plugin
// too old to send one, read from its message's phrases), msg its
// explanation.
func DecodeError(what, code, msg string) *Error {
	// "image 2: corrupt image: …" counts within the plugin's batch, which
	// is not the caller's numbering: what names the image instead
	if rest, ok := strings.CutPrefix(msg, "image "); ok {
		if i := strings.Index(rest, ": "); i > 0 && strings.Trim(rest[:i], "0123456789") == "" {
			msg = rest[i+2:]
		}
	}
	if code == "" {
		switch {
		case strings.Contains(msg, "unsupported image format"):
			code = inference.ImageUnsupportedFormat
		case strings.Contains(msg, "image too large"):
			code = inference.ImageTooLarge
		}
	}
	switch code {
	case inference.ImageUnsupportedFormat:
		return Errorf(CodeUnsupportedFormat, "%s: %s: %s", what, msg, supported)
	case inference.ImageTooLarge:
		return Errorf(CodeTooLarge, "%s: %s", what, msg)
	}
	return Errorf(CodeCorrupt, "%s could not be decoded: %s", what, msg)
}
