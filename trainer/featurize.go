package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/internal/atomicfile"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/features"
	"github.com/autocv/autocv/trainer/graph"
)

// graphVersion changes whenever FeatureModel's output for the same backbone
// could change, so cached features of an older cut are not reused.
const graphVersion = "g2" // g2: quantised backbones computed in float

// featurizer extracts the recipe's features: for each backbone, its pooled
// feature, L2-normalised, concatenated in recipe order.
type featurizer struct {
	backbones []*backbone.Backbone
	models    []features.Model
	spec      preprocess.Spec
	cache     *features.Cache
	provider  string
	dim       int
	skipBad   bool // leave out photos that do not decode
}

func newFeaturizer(r Recipe, o Options) (*featurizer, error) {
	cacheDir := o.CacheDir
	if cacheDir == "" {
		var err error
		if cacheDir, err = features.DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	cache, err := features.OpenCache(cacheDir)
	if err != nil {
		return nil, err
	}
	f := &featurizer{cache: cache, provider: o.Device, skipBad: o.LeaveOutUndecodable}
	if f.provider == "" {
		f.provider = "cpu"
	}
	for i, id := range r.Backbones {
		b, err := backbone.Open(o.BackbonesDir, id)
		if err != nil {
			return nil, err
		}
		spec, err := preprocess.SpecFrom(b.Descriptor.Preprocess)
		if err != nil {
			return nil, fmt.Errorf("backbone %s: %w", id, err)
		}
		if i == 0 {
			f.spec = spec
		} else if spec != f.spec {
			return nil, fmt.Errorf("backbones %s and %s preprocess photos differently; one graph cannot feed both", r.Backbones[0], id)
		}
		m, err := f.featureModel(cacheDir, b)
		if err != nil {
			return nil, err
		}
		f.backbones = append(f.backbones, b)
		f.models = append(f.models, m)
		f.dim += m.Dim
	}
	if err := f.settleProvider(o.Logger); err != nil {
		return nil, err
	}
	return f, nil
}

// settleProvider decides cuda, auto or cpu once, by opening a session:
// with a warm feature cache no session would open otherwise, and "cuda"
// would seem to work on a machine without a GPU.
func (f *featurizer) settleProvider(log *zap.Logger) error {
	if f.provider == engine.CPU || len(f.models) == 0 {
		return nil
	}
	s, err := engine.NewSession(f.models[0].Path, engine.Options{Provider: f.provider,
		Input: f.models[0].Input, Output: f.models[0].Output})
	if err != nil {
		return fmt.Errorf("--device %s: %w (use --device cpu or auto)", f.provider, err)
	}
	defer s.Close()
	if f.provider == engine.Auto && log != nil {
		log.Info("device auto", zap.String("using", s.Provider()))
	}
	f.provider = s.Provider()
	return nil
}

// featureModel writes (once) the backbone cut at its pooled feature into
// the cache folder and describes it for the extractor.
func (f *featurizer) featureModel(cacheDir string, b *backbone.Backbone) (features.Model, error) {
	sum := sha256.Sum256(b.Data)
	key := fmt.Sprintf("%s-%s-%s", b.Descriptor.ID, hex.EncodeToString(sum[:6]), graphVersion)
	path := filepath.Join(cacheDir, "models", key+".onnx")
	m := features.Model{Path: path, ID: key, Dim: b.Descriptor.Feature.Dim, FixedBatch: b.Descriptor.FixedBatch,
		Input: graph.InputName, Output: graph.FeatureOutput}
	if _, err := os.Stat(path); err == nil {
		return m, nil
	}
	data, err := graph.FeatureModel(b.Descriptor, b.Data)
	if err != nil {
		return m, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return m, err
	}
	return m, atomicfile.Write(path, data, 0o644)
}

// extractStats sums the extractors' statistics for the report and bench.
type extractStats struct {
	Hits, Computed, Decoded, Runs int
	Decode, Model, Wall           time.Duration
	Undecodable                   []features.Undecodable
}

// extract returns, for each item, one L2-normalised concatenated feature
// per view it asked for (in the item's view order); nil for a photo that
// does not decode (listed in the stats). Each photo is decoded once for
// every backbone and view.
func (f *featurizer) extract(ctx context.Context, items []features.Item, progress func(done, total int)) ([][][]float32, extractStats, error) {
	var st extractStats
	start := time.Now()
	out := make([][][]float32, len(items))
	for i, it := range items {
		out[i] = make([][]float32, len(it.Views))
		for v := range it.Views {
			out[i][v] = make([]float32, 0, f.dim)
		}
	}
	ex, err := features.NewMultiExtractor(f.models, features.Options{
		Spec: f.spec, Cache: f.cache, Provider: f.provider, Progress: progress, SkipUndecodable: f.skipBad,
	})
	if err != nil {
		return nil, st, err
	}
	defer ex.Close()
	feats, s, err := ex.ExtractAll(ctx, items)
	if err != nil {
		return nil, st, err
	}
	st.Hits, st.Computed, st.Decoded, st.Runs = s.Hits, s.Computed, s.Decoded, s.Runs
	st.Decode, st.Model, st.Undecodable = s.Decode, s.Model, s.Undecodable
	for _, u := range s.Undecodable {
		out[u.Item] = nil
	}
	for _, byItem := range feats { // recipe order
		for i := range byItem {
			for v, x := range byItem[i] {
				graph.L2Normalize(x)
				out[i][v] = append(out[i][v], x...)
			}
		}
	}
	st.Wall = time.Since(start)
	return out, st, nil
}
