package infer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// Prediction is the answer for one image of a Predict call.
type Prediction struct {
	Labels []inference.Label // highest confidence first; empty when Err is set
	Err    error             // an *ImageError when this image could not be used
}

// Reasons an image is refused, as ImageError.Reason; the HTTP layer returns
// them with their api code.
const (
	ReasonUnsupportedFormat = inference.ImageUnsupportedFormat // not jpg, png or bmp
	ReasonCorrupt           = inference.ImageCorrupt           // empty or undecodable bytes
	ReasonTooLarge          = inference.ImageTooLarge          // too many pixels to decode
)

// ImageError says why one image could not be classified. It matches
// ErrBadImage.
type ImageError struct {
	Index   int    // 0-based position in the Predict call
	Reason  string // one of the Reason constants
	Message string // the plugin's explanation, for people
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("image %d: %s", e.Index+1, e.Message)
}

// Is makes errors.Is(err, ErrBadImage) true.
func (e *ImageError) Is(target error) bool { return target == ErrBadImage }

// imageError turns the plugin's per-image error into an ImageError: its
// code says why (typed, across the gRPC boundary); a plugin too old to send
// one is read from the message's sentinel phrases (plugins/onnx/preprocess).
func imageError(index int, p inference.Prediction) *ImageError {
	msg := p.Err
	if rest, ok := strings.CutPrefix(msg, fmt.Sprintf("image %d: ", index+1)); ok {
		msg = rest
	}
	reason := p.ErrCode
	if reason == "" {
		reason = ReasonCorrupt
		switch {
		case strings.Contains(msg, "unsupported image format"):
			reason = ReasonUnsupportedFormat
		case strings.Contains(msg, "image too large"):
			reason = ReasonTooLarge
		}
	}
	return &ImageError{Index: index, Reason: reason, Message: msg}
}

// Predict classifies one batch of encoded images (1 to MaxImages; jpg, png
// or bmp, sniffed from the bytes) on key's model and returns the topK
// labels per image (0 = inference.DefaultTopK) in request order, with the
// call's wall time. If the key is still starting it waits, at most until
// ctx ends.
//
// Errors: ErrNotLoaded (the key is not in the pool, or its load failed),
// ErrInvalid (no images, too many, negative topK), ErrPluginFailed (the
// process died or failed: it is restarted in the background and the next
// call works again). When some images could not be decoded, Predict
// returns every Prediction (those images with Err set) together with the
// first image's *ImageError, which matches ErrBadImage: a one-image caller
// answers 400 with its Reason, a batch caller reports per image.
//
// Many goroutines may call Predict at once, on one key or many; each key's
// process serves its own calls.
func (p *Pool) Predict(ctx context.Context, key Key, images [][]byte, topK int) ([]Prediction, time.Duration, error) {
	start := time.Now()
	switch {
	case len(images) == 0:
		return nil, 0, fmt.Errorf("%w: no images", ErrInvalid)
	case len(images) > MaxImages:
		return nil, 0, fmt.Errorf("%w: %d images in one call, at most %d", ErrInvalid, len(images), MaxImages)
	case topK < 0:
		return nil, 0, fmt.Errorf("%w: top_k %d is negative", ErrInvalid, topK)
	}
	sup, err := p.lookup(key)
	if err != nil {
		return nil, 0, err
	}
	in, err := wait(ctx, key, sup)
	if err != nil {
		return nil, time.Since(start), err
	}
	defer in.Release()
	res, err := in.Proc.API().Predict(ctx, inference.PredictRequest{Images: images, TopK: topK})
	if err != nil {
		return nil, time.Since(start), callError(ctx, key, sup, in, err)
	}
	if len(res.Predictions) != len(images) {
		err := fmt.Errorf("%w: %s: %d answers for %d images", ErrPluginFailed, key, len(res.Predictions), len(images))
		return nil, time.Since(start), err
	}
	out := make([]Prediction, len(images))
	var first error
	for i, pr := range res.Predictions {
		if pr.Err != "" {
			out[i].Err = imageError(i, pr)
			if first == nil {
				first = out[i].Err
			}
			continue
		}
		out[i].Labels = pr.Labels
	}
	return out, time.Since(start), first
}

// callError classifies a failed plugin call; the supervisor restarts a
// process that is gone or no longer holds the model.
func callError(ctx context.Context, key Key, sup *host.Supervisor, in *host.Instance, err error) error {
	switch {
	case ctx.Err() != nil && !in.Proc.Exited():
		return fmt.Errorf("%s: %w", key, ctx.Err())
	case errors.Is(err, inference.ErrBadRequest):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case sup.Gone(in, err): // a no-op when another call already reported it
		return fmt.Errorf("%w: %s: %w; it is being restarted, retry shortly", ErrPluginFailed, key, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrPluginFailed, key, err)
}
