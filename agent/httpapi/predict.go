package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/inference"
)

// ModelRef names the model that answered.
type ModelRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// Label is one label with its confidence in [0, 1], the label's
// confidence threshold from the package (per label, else global) and
// whether the confidence reaches it.
type Label struct {
	Label          string  `json:"label"`
	Confidence     float32 `json:"confidence"`
	Threshold      float64 `json:"threshold"`
	AboveThreshold bool    `json:"above_threshold"`
}

// PredictResponse answers one image: labels sorted by confidence, highest
// first.
type PredictResponse struct {
	Model       ModelRef `json:"model"`
	Predictions []Label  `json:"predictions"`
	LatencyMS   float64  `json:"latency_ms"`
}

// predict answers POST /v1/predict: the body is one image.
func (s *Server) predict(c *gin.Context) {
	start := time.Now()
	topK, apiErr := s.topK(c)
	if apiErr != nil {
		abort(c, apiErr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxImageBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			abort(c, s.tooLarge("the request body"))
			return
		}
		if e := s.readTimeout(c, err); e != nil {
			abort(c, e)
			return
		}
		abort(c, newError(http.StatusBadRequest, CodeBadRequest, "reading the request body: "+err.Error()))
		return
	}
	if e := sniffImage(body, "the request body"); e != nil {
		if e.code == CodeEmptyBody {
			e.msg += " as the raw body of POST /v1/predict (e.g. curl --data-binary @photo.jpg)"
		}
		abort(c, e)
		return
	}
	res, apiErr := s.infer(c.Request.Context(), [][]byte{body}, topK)
	if apiErr != nil {
		abort(c, apiErr)
		return
	}
	p := res.Predictions[0]
	if p.Err != "" {
		abort(c, newError(http.StatusUnprocessableEntity, CodeBadImage, "the image could not be read: "+p.Err))
		return
	}
	c.JSON(http.StatusOK, PredictResponse{
		Model: modelRef(res.Model), Predictions: s.labels(res.Model, p.Labels), LatencyMS: millis(time.Since(start)),
	})
}

// topK reads the top_k query parameter: a whole number ≥ 1, default
// inference.DefaultTopK, clamped to the number of labels — asking for 5
// of a 2-label model's answers gets both, as the cloud /infer does.
func (s *Server) topK(c *gin.Context) (int, *apiError) {
	st, err := s.run.Status()
	if err != nil {
		return 0, fromRunner(err)
	}
	n := len(st.Model.Labels)
	v, given := c.GetQuery("top_k")
	if !given || v == "" {
		return max(1, min(inference.DefaultTopK, n)), nil
	}
	k, err := strconv.Atoi(v)
	if err != nil || k < 1 {
		return 0, newError(http.StatusBadRequest, CodeBadTopK,
			fmt.Sprintf("top_k must be a whole number of at least 1 (the model has %d labels), got %q", n, v))
	}
	return max(1, min(k, n)), nil
}

// infer sends images to the plugin and checks it answered for each. ctx
// carries the request's deadline (see limit).
func (s *Server) infer(ctx context.Context, images [][]byte, topK int) (runner.Result, *apiError) {
	start := time.Now()
	res, err := s.run.Predict(ctx, inference.PredictRequest{Images: images, TopK: topK})
	if err != nil {
		return res, fromRunner(err)
	}
	s.metrics.predicted(time.Since(start), len(images))
	if len(res.Predictions) != len(images) {
		return res, newError(http.StatusInternalServerError, CodeInference,
			fmt.Sprintf("the inference plugin answered %d predictions for %d images", len(res.Predictions), len(images)))
	}
	return res, nil
}

func (s *Server) tooLarge(what string) *apiError {
	return newError(http.StatusRequestEntityTooLarge, CodeTooLarge,
		fmt.Sprintf("%s is larger than the limit of %s: send a smaller image (the agent's max_image_bytes setting)", what, size(s.cfg.MaxImageBytes)))
}

func modelRef(m inference.Model) ModelRef { return ModelRef{ID: m.ID, Version: m.Version} }

// labels converts the plugin's labels for model m, applying its
// thresholds.
func (s *Server) labels(m inference.Model, in []inference.Label) []Label {
	th := s.thresholdsFor(m)
	out := make([]Label, len(in))
	for i, l := range in {
		// Compared as float32, the precision the confidence has, so a
		// confidence and threshold that print alike compare equal.
		t := th.of(l.Label)
		out[i] = Label{Label: l.Label, Confidence: l.Confidence, Threshold: t, AboveThreshold: l.Confidence >= float32(t)}
	}
	return out
}

// readTimeout is the answer when reading the body failed because the
// request ran out of time (see limit), or nil.
func (s *Server) readTimeout(c *gin.Context, err error) *apiError {
	if c.Request.Context().Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return newError(http.StatusGatewayTimeout, CodeTimeout, fmt.Sprintf(
		"the request body did not arrive within the request_timeout (%s): send it faster or send smaller images", s.cfg.RequestTimeout))
}

// millis is d in milliseconds with two decimals.
func millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*100) / 100
}

// size writes a byte count for people: 8 MB, 512 KB, 300 bytes.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
