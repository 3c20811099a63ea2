package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/inference"
)

// The prediction JSON is protocol/api's, shared with the control plane.
type (
	ModelRef        = api.ModelRef
	Label           = api.Prediction
	PredictResponse = api.PredictResponse
)

// predict answers POST /v1/predict: the body is one image.
func (s *Server) predict(c *gin.Context) {
	start := time.Now()
	q, apiErr := s.query(c)
	if apiErr != nil {
		abort(c, apiErr)
		return
	}
	if c.Request.ContentLength > s.cfg.MaxImageBytes {
		abort(c, s.tooLarge("the request body"))
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
		abort(c, newError(CodeBadRequest, "reading the request body: "+err.Error()))
		return
	}
	if e := sniffImage(body, "the request body"); e != nil {
		if e.Code == CodeEmptyBody {
			e.Message += " as the raw body of POST /v1/predict (e.g. curl --data-binary @photo.jpg)"
		}
		abort(c, e)
		return
	}
	res, apiErr := s.infer(c, [][]byte{body}, q.topK)
	if apiErr != nil {
		abort(c, apiErr)
		return
	}
	p := res.Predictions[0]
	if p.Err != "" {
		abort(c, api.DecodeError("the request body", p.ErrCode, p.Err))
		return
	}
	c.JSON(http.StatusOK, PredictResponse{
		Model: modelRef(res.Model), Predictions: s.labels(res.Model, p.Labels, q.threshold), LatencyMS: millis(time.Since(start)),
	})
}

// params are a prediction call's query parameters.
type params struct {
	topK      int
	threshold *float64 // replaces the package's thresholds when set
}

// query reads top_k and threshold by the rules every prediction endpoint
// shares (api.TopK, api.Threshold): top_k is clamped to the model's labels.
func (s *Server) query(c *gin.Context) (params, *apiError) {
	st, err := s.run.Status()
	if err != nil {
		return params{}, fromRunner(err)
	}
	k, e := api.TopK(c.Query(api.ParamTopK), len(st.Model.Labels))
	if e != nil {
		return params{}, e
	}
	th, e := api.Threshold(c.Query(api.ParamThreshold))
	if e != nil {
		return params{}, e
	}
	return params{topK: k, threshold: th}, nil
}

// infer waits for a turn (see limit), sends images, read from the whole
// body, to the plugin and checks it answered for each.
func (s *Server) infer(c *gin.Context, images [][]byte, topK int) (runner.Result, *apiError) {
	done, apiErr := s.turn(c)
	if apiErr != nil {
		return runner.Result{}, apiErr
	}
	defer done()
	start := time.Now()
	res, err := s.run.Predict(c.Request.Context(), inference.PredictRequest{Images: images, TopK: topK})
	if err != nil {
		return res, fromRunner(err)
	}
	s.metrics.predicted(time.Since(start), len(images))
	if len(res.Predictions) != len(images) {
		return res, newError(CodeInference,
			fmt.Sprintf("the inference plugin answered %d predictions for %d images", len(res.Predictions), len(images)))
	}
	return res, nil
}

func (s *Server) tooLarge(what string) *apiError {
	return newError(CodeTooLarge,
		fmt.Sprintf("%s is larger than the limit of %s: send a smaller image (the agent's max_image_bytes setting)", what, size(s.cfg.MaxImageBytes)))
}

func modelRef(m inference.Model) ModelRef { return ModelRef{ID: m.ID, Version: m.Version} }

// labels converts the plugin's labels for model m, applying its
// thresholds or the call's.
func (s *Server) labels(m inference.Model, in []inference.Label, override *float64) []Label {
	return api.Predictions(in, s.thresholdsFor(m), override)
}

// readTimeout is the answer when reading the body failed because it
// arrived too slowly or the request ran out of time (see limit), or nil.
// Both are 504 timeout: protocol/api has no code for 408.
func (s *Server) readTimeout(c *gin.Context, err error) *apiError {
	if errors.Is(err, errTooSlow) {
		return newError(CodeTimeout, fmt.Sprintf(
			"%v; after the first %s it must arrive at %s/s or faster: send it faster or from a better connection",
			err, s.cfg.BodyGrace, size(s.cfg.MinBodyRate)))
	}
	if c.Request.Context().Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return newError(CodeTimeout, fmt.Sprintf(
		"the request body did not arrive within the request_timeout (%s): send it faster or send smaller images", s.cfg.RequestTimeout))
}

func millis(d time.Duration) float64 { return api.Millis(d) }

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
