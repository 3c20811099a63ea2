package httpapi

import (
	"sync"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// DefaultThreshold is the confidence threshold used for every label when
// the served package's thresholds cannot be read (logged as a warning).
const DefaultThreshold = api.DefaultThreshold

// thresholdCache holds the thresholds of the models served recently, by
// manifest sha256 (a swap serves two for a moment).
type thresholdCache struct {
	mu      sync.Mutex
	byModel map[string]modelpkg.Thresholds
	order   []string // oldest first, for eviction
}

const thresholdCacheSize = 4

// thresholdsFor returns the thresholds of model m, which just answered.
// They come from the manifest of the package being served, read once per
// model: the first member of the package file, checked against the
// manifest sha256 the plugin reported after verifying the package's
// signature, so they are the thresholds of exactly the model that answered.
func (s *Server) thresholdsFor(m inference.Model) modelpkg.Thresholds {
	st, err := s.run.Status()
	key := m.ManifestSHA256
	if key == "" && err == nil {
		key = "package:" + st.Package // a plugin that does not report the sha256
	}
	c := &s.thresholds
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.byModel[key]; ok && key != "" {
		return t
	}
	fallback := modelpkg.Thresholds{Global: DefaultThreshold}
	if err != nil || st.Model.ManifestSHA256 != m.ManifestSHA256 {
		// The model that answered was swapped out before we first saw it.
		return fallback
	}
	t, err := readThresholds(st.Package, m.ManifestSHA256)
	if err != nil {
		s.log.Warn("cannot read the model's confidence thresholds; using the default for every label",
			zap.String("package", st.Package), zap.Float64("default", DefaultThreshold), zap.Error(err))
		t = fallback
	}
	if c.byModel == nil {
		c.byModel = map[string]modelpkg.Thresholds{}
	}
	c.byModel[key] = t
	c.order = append(c.order, key)
	if len(c.order) > thresholdCacheSize {
		delete(c.byModel, c.order[0])
		c.order = c.order[1:]
	}
	return t
}

// readThresholds reads the thresholds of the package at path, whose
// manifest must have sha256 wantSHA (when given).
func readThresholds(path, wantSHA string) (modelpkg.Thresholds, error) {
	m, err := modelpkg.ReadManifestFile(path, wantSHA)
	if err != nil {
		return modelpkg.Thresholds{}, err
	}
	return m.Thresholds, nil
}
