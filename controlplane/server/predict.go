package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// The prediction endpoints (/infer/{path}, 校验 …/validation/predict)
// answer protocol/api's prediction JSON with its codes and query rules,
// exactly as the agent does for the same input.

// abortAPI answers with an api error body and its code's status.
func abortAPI(c *gin.Context, e *api.Error) { c.AbortWithStatusJSON(e.Status(), e) }

// predictParams reads top_k (clamped to the version's labels) and
// threshold.
type predictParams struct {
	topK      int
	threshold *float64
}

func readPredictParams(c *gin.Context, v *store.Version) (predictParams, bool) {
	k, e := api.TopK(c.Query(api.ParamTopK), len(v.Labels))
	if e == nil {
		var th *float64
		if th, e = api.Threshold(c.Query(api.ParamThreshold)); e == nil {
			return predictParams{topK: k, threshold: th}, true
		}
	}
	abortAPI(c, e)
	return predictParams{}, false
}

// checkPart is the error an image gets before any decoding, or nil.
func checkPart(f partFile, what string) *api.Error {
	if len(f.data) > api.MaxImageBytes {
		return api.Errorf(api.CodeTooLarge, "%s is larger than the limit of %d MB: send a smaller image", what, api.MaxImageBytes>>20)
	}
	return api.CheckImage(f.data, what)
}

// predictFunc runs a batch on a model: the published service's (which
// loads the version on this replica when needed) or 校验's (which must not
// pin a validation model that idled out).
type predictFunc func(ctx context.Context, key infer.Key, imgs [][]byte, topK int) ([]infer.Prediction, time.Duration, error)

// classify checks each file, runs the good ones on v's model with run and
// answers the prediction JSON: the one-image shape (an error for a bad
// image) when one is true, else results in request order. ran says whether
// the model was called at all (not when every file was refused before);
// err is the model's own failure (not a bad image), answered already.
func (s *Server) classify(c *gin.Context, v *store.Version, files []partFile, p predictParams, one bool, run predictFunc) (took time.Duration, ran bool, err error) {
	start := time.Now()
	results := make([]api.FileResult, len(files))
	var good [][]byte
	var index []int // files[index[i]] is good[i]
	for i, f := range files {
		what := describe(f)
		results[i] = api.FileResult{File: f.name, Predictions: []api.Prediction{}}
		if e := checkPart(f, what); e != nil {
			results[i].Error, results[i].Code = e.Message, e.Code
			continue
		}
		good = append(good, f.data)
		index = append(index, i)
	}
	if len(good) > 0 {
		release, ok := admit(c, s.inferBudget, good)
		if !ok {
			return 0, false, nil // refused before the model, answered
		}
		defer release()
		preds, d, err := run(c.Request.Context(), keyOf(v), good, p.topK)
		took, ran = d, true
		var ie *infer.ImageError
		if err != nil && !(errors.As(err, &ie) && len(preds) == len(good)) {
			s.predictError(c, err)
			return took, ran, err
		}
		th := s.thresholds(c.Request.Context(), v)
		for j, pr := range preds {
			r := &results[index[j]]
			if errors.As(pr.Err, &ie) {
				e := api.DecodeError(describe(files[index[j]]), ie.Reason, ie.Message)
				r.Error, r.Code = e.Message, e.Code
				continue
			}
			r.Predictions = api.Predictions(pr.Labels, th, p.threshold)
		}
	}
	model := api.ModelRef{ID: v.ModelID, Version: v.Number}
	ms := api.Millis(time.Since(start))
	if one {
		if r := results[0]; r.Error != "" {
			abortAPI(c, &api.Error{Code: r.Code, Message: r.Error})
		} else {
			c.JSON(http.StatusOK, api.PredictResponse{Model: model, Predictions: r.Predictions, LatencyMS: ms})
		}
		return took, ran, nil
	}
	c.JSON(http.StatusOK, api.BatchResponse{Model: model, Results: results, LatencyMS: ms})
	return took, ran, nil
}

// predictError answers the model's own failure on a call.
func (s *Server) predictError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, infer.ErrInvalid):
		abortAPI(c, api.Errorf(api.CodeBadRequest, "%v", err))
	case errors.Is(err, context.DeadlineExceeded):
		abortAPI(c, api.Errorf(api.CodeTimeout, "the model did not answer in time"))
	case errors.Is(err, infer.ErrPluginFailed), errors.Is(err, infer.ErrLoadFailed), errors.Is(err, infer.ErrNotLoaded):
		abortAPI(c, api.Errorf(api.CodeUnavailable, "%v", err))
	default:
		s.internal(c, err)
	}
}

// describe names an image for people: the raw body, or its file part.
func describe(f partFile) string {
	if f.name == rawBody {
		return "the request body"
	}
	return fmt.Sprintf("file %q", f.name)
}

// thresholdCache holds the confidence thresholds of recently used
// packages, read from their manifests, by package sha256.
type thresholdCache struct {
	mu sync.Mutex
	m  map[string]modelpkg.Thresholds
}

// thresholds returns the confidence thresholds in v's package manifest;
// when it cannot be read, api.DefaultThreshold for every label (logged).
func (s *Server) thresholds(ctx context.Context, v *store.Version) modelpkg.Thresholds {
	c := &s.thresholdsCache
	c.mu.Lock()
	th, ok := c.m[v.PackageSHA256]
	c.mu.Unlock()
	if ok {
		return th
	}
	th = modelpkg.Thresholds{Global: api.DefaultThreshold}
	path, err := s.packageFile(ctx, v.PackageSHA256)
	if err == nil {
		var m *modelpkg.Manifest
		if m, err = modelpkg.ReadManifestFile(path, ""); err == nil {
			th = m.Thresholds
		}
	}
	if err != nil {
		s.log.Warn("cannot read the package's confidence thresholds; using the default for every label",
			zap.String("model", v.ModelID), zap.Int("version", v.Number), zap.Error(err))
		return th
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 256 {
		c.m = map[string]modelpkg.Thresholds{}
	}
	c.m[v.PackageSHA256] = th
	return th
}
