package features

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/trainer/dataset"
)

// Model is a feature model file (see the package doc).
type Model struct {
	Path string
	// ID names the backbone in the cache. Change it whenever the model's
	// weights or graph change (e.g. include the backbone file's sha256),
	// or stale features will be served.
	ID  string
	Dim int // values per feature, e.g. 1280
	// FixedBatch is the batch size the model insists on (the ShuffleNet
	// file: 1), or 0 when its batch dimension is dynamic. When not 0 it
	// is checked against the model's declared input; 0 means "whatever the
	// model declares".
	FixedBatch    int
	Input, Output string // graph names; "" = "input", "features"
}

// Options tune an Extractor. The zero value works.
type Options struct {
	Spec     preprocess.Spec // zero = preprocess.ImageNet()
	Cache    *Cache          // nil = no caching
	Batch    int             // views per model run when the batch is dynamic; 0 = 8
	Workers  int             // decoding goroutines; 0 = GOMAXPROCS
	Provider string          // engine provider; "" = engine.CPU
	Threads  int             // onnxruntime intra-op threads; 0 = engine default
	// Progress, if set, is called with the images finished so far (cached
	// ones count at once) and the total; from one goroutine at a time.
	Progress func(done, total int)
}

// Item is one image and the views wanted of it.
type Item struct {
	ID     string // for error messages
	Path   string // the photo; read when Data is nil
	Data   []byte
	SHA256 string // hex sha256 of the bytes: the cache key, and the jitter seed
	Views  []View
}

// Items makes one Item per dataset image, each wanting views.
func Items(images []dataset.Image, views []View) []Item {
	out := make([]Item, len(images))
	for i, im := range images {
		out[i] = Item{ID: im.ID, Path: im.Path, SHA256: im.SHA256, Views: views}
	}
	return out
}

// Stats describe one Extract call.
type Stats struct {
	Images, Views int // asked for
	Hits          int // views served from the cache
	Computed      int // views run through the model
	Decoded       int // images decoded (once each, whatever their views)
	Runs          int // model runs (batches)
	Corrupt       int // damaged cache entries found and recomputed
	// CacheErr is the first error writing the cache. Extraction does not
	// fail for it: the features are right, only not kept.
	CacheErr error
	Lookup   time.Duration // reading the cache
	Decode   time.Duration // decode + preprocessing, summed over workers
	Model    time.Duration // in the model
	Wall     time.Duration
}

// Extractor computes features of images with one feature model. The
// onnxruntime session is opened on the first Extract that misses the
// cache, so a fully cached run never loads the model. Extract calls are
// serialised; Close waits for a running Extract and frees the session.
type Extractor struct {
	m         Model
	o         Options
	namespace string

	mu   sync.Mutex
	sess *engine.Session
}

// NewExtractor checks the model and options.
func NewExtractor(m Model, o Options) (*Extractor, error) {
	if m.Path == "" || m.ID == "" || m.Dim <= 0 || m.FixedBatch < 0 {
		return nil, fmt.Errorf("features: model needs a path, an id and a dim > 0 (got %q, %q, %d)", m.Path, m.ID, m.Dim)
	}
	m.Input = cmp.Or(m.Input, "input")
	m.Output = cmp.Or(m.Output, "features")
	if o.Spec == (preprocess.Spec{}) {
		o.Spec = preprocess.ImageNet()
	}
	if err := o.Spec.Validate(); err != nil {
		return nil, err
	}
	if o.Batch <= 0 {
		o.Batch = 8
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	// The namespace ties cached features to the backbone, the
	// preprocessing and the views' definitions.
	h := sha256.Sum256(fmt.Appendf(nil, "%+v|views %d|preprocess %d", o.Spec, viewsVersion, preprocess.Version))
	return &Extractor{m: m, o: o, namespace: m.ID + "@" + hex.EncodeToString(h[:4])}, nil
}

// Namespace is the cache namespace of this extractor's features.
func (e *Extractor) Namespace() string { return e.namespace }

// session opens the model once.
func (e *Extractor) session() (*engine.Session, error) {
	if e.sess != nil {
		return e.sess, nil
	}
	s, err := engine.NewSession(e.m.Path, engine.Options{Provider: e.o.Provider, IntraOpThreads: e.o.Threads, Input: e.m.Input, Output: e.m.Output})
	if err != nil {
		return nil, fmt.Errorf("features: backbone %s: %w", e.m.ID, err)
	}
	fb := s.FixedBatch()
	if e.m.FixedBatch != 0 && fb != e.m.FixedBatch {
		s.Close()
		return nil, fmt.Errorf("features: backbone %s: model takes batches of %d, not %d", e.m.ID, fb, e.m.FixedBatch)
	}
	if out := s.Outputs(); out != 0 && out != e.m.Dim {
		s.Close()
		return nil, fmt.Errorf("features: backbone %s: output %q has %d values per image, want dim %d", e.m.ID, e.m.Output, out, e.m.Dim)
	}
	e.sess = s
	return s, nil
}

// Close frees the onnxruntime session.
func (e *Extractor) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil
	}
	err := e.sess.Close()
	e.sess = nil
	return err
}

// Extract returns the features of every item's views: out[i][j] is the
// Dim values of items[i].Views[j]. Views found in the cache are not
// recomputed; an image is decoded once for all its missing views, on
// Workers goroutines that prepare the next batch while the model runs the
// current one, and each finished image's new views are stored in the
// cache. Cancelling ctx stops it within one batch and returns the
// context's error; images finished by then stay cached.
func (e *Extractor) Extract(ctx context.Context, items []Item) ([][][]float32, Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	st := Stats{Images: len(items)}
	out := make([][][]float32, len(items))
	var todo []task
	for i, it := range items {
		if err := e.validate(it); err != nil {
			return nil, st, err
		}
		st.Views += len(it.Views)
		out[i] = make([][]float32, len(it.Views))
		t := task{item: i}
		cached := e.lookup(it, &st)
		for j, v := range it.Views {
			if f, ok := cached[v]; ok {
				out[i][j] = f
				st.Hits++
			} else {
				t.views = append(t.views, j)
			}
		}
		if len(t.views) > 0 {
			todo = append(todo, t)
		}
	}
	st.Lookup = time.Since(start)
	done := len(items) - len(todo)
	if e.o.Progress != nil {
		e.o.Progress(done, len(items))
	}
	var err error
	if len(todo) > 0 {
		err = e.run(ctx, items, todo, out, &st, done)
	}
	st.Wall = time.Since(start)
	if err != nil {
		return nil, st, err
	}
	return out, st, nil
}

func (e *Extractor) validate(it Item) error {
	if it.Path == "" && it.Data == nil {
		return fmt.Errorf("features: image %q has neither a path nor data", it.ID)
	}
	if e.o.Cache != nil && it.SHA256 == "" {
		return fmt.Errorf("features: image %q has no sha256 to cache its features by", it.ID)
	}
	seen := make(map[View]bool, len(it.Views))
	for _, v := range it.Views {
		if !v.Valid() || seen[v] {
			return fmt.Errorf("features: image %q: view %q is unknown or repeated (views: %v)", it.ID, v, AllViews())
		}
		seen[v] = true
	}
	return nil
}

// lookup reads an item's cache entry; a damaged one counts as a miss.
func (e *Extractor) lookup(it Item, st *Stats) map[View][]float32 {
	if e.o.Cache == nil || len(it.Views) == 0 {
		return nil
	}
	m, err := e.o.Cache.Load(e.namespace, it.SHA256, e.m.Dim)
	if errors.Is(err, ErrCorrupt) {
		st.Corrupt++
	} else if err != nil && st.CacheErr == nil {
		st.CacheErr = err
	}
	return m
}
