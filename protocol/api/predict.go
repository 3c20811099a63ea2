// Package api is the HTTP contract that clients script against: the body
// types, the error body and the one table of error codes with their HTTP
// statuses. It starts with the prediction JSON, which two servers answer —
// the agent (POST /v1/predict, POST /upload on :8987) and the control plane
// (POST /api/v1/infer/{path} and 校验 …/validation/predict) — so that the
// same photo and the same bad input get the same answer from both.
package api

import (
	"math"
	"strconv"
	"time"

	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// ModelRef names the model version that answered.
type ModelRef struct {
	ID      string `json:"id" required:"true"`
	Version int    `json:"version" required:"true"`
}

// Prediction is one label of an answer: its confidence in [0, 1], the
// confidence threshold that applies to it (the call's threshold parameter,
// else the package's per-label one, else its global one) and whether the
// confidence reaches it.
type Prediction struct {
	Label          string  `json:"label" required:"true"`
	Confidence     float32 `json:"confidence" required:"true" minimum:"0" maximum:"1"`
	Threshold      float64 `json:"threshold" required:"true" minimum:"0" maximum:"1"`
	AboveThreshold bool    `json:"above_threshold" required:"true"`
}

// PredictResponse answers one image: predictions sorted by confidence,
// highest first.
type PredictResponse struct {
	Model       ModelRef     `json:"model" required:"true"`
	Predictions []Prediction `json:"predictions" required:"true"`
	LatencyMS   float64      `json:"latency_ms" required:"true"`
}

// FileResult is one file of a several-file request: its predictions, or
// the error and code that image alone got.
type FileResult struct {
	File        string       `json:"file" required:"true"`
	Predictions []Prediction `json:"predictions" required:"true"`
	Error       string       `json:"error,omitempty"`
	Code        Code         `json:"code,omitempty"`
}

// BatchResponse answers several files, results in request order.
type BatchResponse struct {
	Model     ModelRef     `json:"model" required:"true"`
	Results   []FileResult `json:"results" required:"true"`
	LatencyMS float64      `json:"latency_ms" required:"true"`
}

// MaxImageBytes is the largest image a prediction endpoint takes by
// default, the agent's and the cloud's alike (the agent's max_image_bytes
// can change its own); dataset import has its own, smaller rule
// (imagerules.MaxFileSize).
const MaxImageBytes = 8 << 20

// DefaultThreshold applies to every label of a package whose thresholds
// cannot be read.
const DefaultThreshold = 0.5

// Query parameters of every prediction endpoint.
const (
	ParamTopK      = "top_k"
	ParamThreshold = "threshold"
)

// TopK reads the top_k query value: inference.DefaultTopK when empty, else
// a whole number ≥ 1; either is clamped to the model's label count, never
// an error for being larger.
func TopK(q string, labels int) (int, *Error) {
	k := inference.DefaultTopK
	if q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return 0, Errorf(CodeBadTopK, "top_k must be a whole number of at least 1 (larger asks for every label), got %q", q)
		}
		k = n
	}
	if labels > 0 {
		k = min(k, labels)
	}
	return max(k, 1), nil
}

// Threshold reads the threshold query value: nil when empty (the
// package's thresholds apply), else a number in [0, 1] that replaces them
// for this call.
func Threshold(q string) (*float64, *Error) {
	if q == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(q, 64)
	if err != nil || v < 0 || v > 1 || v != v {
		return nil, Errorf(CodeBadThreshold, "threshold must be a number from 0 to 1, got %q", q)
	}
	return &v, nil
}

// Predictions turns a plugin's labels into predictions, applying the
// package's thresholds th or, when set, the call's override.
func Predictions(labels []inference.Label, th modelpkg.Thresholds, override *float64) []Prediction {
	out := make([]Prediction, len(labels))
	for i, l := range labels {
		t := th.Global
		if v, ok := th.PerLabel[l.Label]; ok {
			t = v
		}
		if override != nil {
			t = *override
		}
		// compared as float32, the confidence's precision, so values that
		// print alike compare equal
		out[i] = Prediction{Label: l.Label, Confidence: l.Confidence, Threshold: t, AboveThreshold: l.Confidence >= float32(t)}
	}
	return out
}

// Millis is d in milliseconds with two decimals, the latency_ms field.
func Millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*100) / 100
}
