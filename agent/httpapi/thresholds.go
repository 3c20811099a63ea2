package httpapi

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// DefaultThreshold is the confidence threshold used for every label when
// the served package's thresholds cannot be read (logged as a warning).
const DefaultThreshold = 0.5

// maxManifest bounds the manifest.json read from a package.
const maxManifest = 16 << 20

// thresholds are the confidence thresholds of one model: a label's own,
// else the global one. A prediction is above_threshold when its
// confidence is at least its label's threshold.
type thresholds struct {
	Global   float64
	PerLabel map[string]float64
}

func (t thresholds) of(label string) float64 {
	if v, ok := t.PerLabel[label]; ok {
		return v
	}
	return t.Global
}

// thresholdCache holds the thresholds of the models served recently, by
// manifest sha256 (a swap serves two for a moment).
type thresholdCache struct {
	mu      sync.Mutex
	byModel map[string]thresholds
	order   []string // oldest first, for eviction
}

const thresholdCacheSize = 4

// thresholdsFor returns the thresholds of model m, which just answered.
// They come from the manifest of the package being served, read once per
// model: the first member of the package file, checked against the
// manifest sha256 the plugin reported after verifying the package's
// signature, so they are the thresholds of exactly the model that answered.
func (s *Server) thresholdsFor(m inference.Model) thresholds {
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
	fallback := thresholds{Global: DefaultThreshold}
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
		c.byModel = map[string]thresholds{}
	}
	c.byModel[key] = t
	c.order = append(c.order, key)
	if len(c.order) > thresholdCacheSize {
		delete(c.byModel, c.order[0])
		c.order = c.order[1:]
	}
	return t
}

// readThresholds reads manifest.json, the first member of the package at
// path, checks its sha256 against wantSHA (when given) and returns its
// thresholds.
func readThresholds(path, wantSHA string) (thresholds, error) {
	f, err := os.Open(path)
	if err != nil {
		return thresholds{}, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return thresholds{}, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		return thresholds{}, fmt.Errorf("%s: %w", path, err)
	}
	if h.Name != modelpkg.ManifestName {
		return thresholds{}, fmt.Errorf("%s: first member is %q, want %s", path, h.Name, modelpkg.ManifestName)
	}
	data, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
	if err != nil {
		return thresholds{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxManifest {
		return thresholds{}, fmt.Errorf("%s: %s is over %d bytes", path, modelpkg.ManifestName, maxManifest)
	}
	if sum := sha256.Sum256(data); wantSHA != "" && hex.EncodeToString(sum[:]) != wantSHA {
		return thresholds{}, fmt.Errorf("%s: the package file changed since the model was loaded (manifest sha256 %x, loaded %s)",
			path, sum[:6], wantSHA[:min(12, len(wantSHA))])
	}
	mf, err := modelpkg.ParseManifest(data)
	if err != nil {
		return thresholds{}, fmt.Errorf("%s: %w", path, err)
	}
	return thresholds{Global: mf.Thresholds.Global, PerLabel: mf.Thresholds.PerLabel}, nil
}
