package features

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
	// SkipUndecodable leaves out an image that fails to decode (corrupt,
	// unsupported or too large: the preprocess errors) instead of failing
	// the whole Extract: it is listed in Stats.Undecodable, its features
	// are nil, and the verdict is cached. Other errors still fail.
	SkipUndecodable bool
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
	Hits          int // views served from the cache (counted per model)
	Computed      int // views run through a model (counted per model)
	Decoded       int // images decoded (once each, whatever their views and models)
	Runs          int // model runs (batches)
	Corrupt       int // damaged cache entries found and recomputed
	// Undecodable lists the images left out with Options.SkipUndecodable,
	// in the order of the items.
	Undecodable []Undecodable
	// CacheErr is the first error writing the cache. Extraction does not
	// fail for it: the features are right, only not kept.
	CacheErr error
	Lookup   time.Duration // reading the cache
	Decode   time.Duration // decode + preprocessing, summed over workers
	Model    time.Duration // in the model
	Wall     time.Duration
}

// Undecodable is an image that failed to decode.
type Undecodable struct {
	Item   int // index into the items
	Reason string
}

// Extractor computes features of images with one or more feature models
// that share a preprocessing: each image is decoded once and every view it
// needs is made once, then fed to every model still missing it. The
// onnxruntime sessions are opened on the first Extract that misses the
// cache, so a fully cached run never loads a model. Extract calls are
// serialised; Close waits for a running Extract and frees the sessions.
type Extractor struct {
	ms []*member
	o  Options

	mu sync.Mutex
}

// member is one model of an Extractor.
type member struct {
	m         Model
	namespace string
	sess      *engine.Session
}

// NewExtractor checks the model and options.
func NewExtractor(m Model, o Options) (*Extractor, error) {
	return NewMultiExtractor([]Model{m}, o)
}

// NewMultiExtractor checks the models and options; ExtractAll returns the
// features of each model, in the order given.
func NewMultiExtractor(models []Model, o Options) (*Extractor, error) {
	if len(models) == 0 || len(models) > maxModels {
		return nil, fmt.Errorf("features: %d feature models; want 1 to %d", len(models), maxModels)
	}
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
	e := &Extractor{o: o}
	for _, m := range models {
		if m.Path == "" || m.ID == "" || m.Dim <= 0 || m.FixedBatch < 0 {
			return nil, fmt.Errorf("features: model needs a path, an id and a dim > 0 (got %q, %q, %d)", m.Path, m.ID, m.Dim)
		}
		m.Input = cmp.Or(m.Input, "input")
		m.Output = cmp.Or(m.Output, "features")
		e.ms = append(e.ms, &member{m: m, namespace: m.ID + "@" + hex.EncodeToString(h[:4])})
	}
	return e, nil
}

// maxModels bounds the models of one Extractor (a view's missing models
// are a bit mask).
const maxModels = 32

// Namespace is the cache namespace of the (first) model's features.
func (e *Extractor) Namespace() string { return e.ms[0].namespace }

// session opens the model once.
func (e *Extractor) session(mb *member) (*engine.Session, error) {
	if mb.sess != nil {
		return mb.sess, nil
	}
	m := mb.m
	s, err := engine.NewSession(m.Path, engine.Options{Provider: e.o.Provider, IntraOpThreads: e.o.Threads, Input: m.Input, Output: m.Output})
	if err != nil {
		return nil, fmt.Errorf("features: backbone %s: %w", m.ID, err)
	}
	fb := s.FixedBatch()
	if m.FixedBatch != 0 && fb != m.FixedBatch {
		s.Close()
		return nil, fmt.Errorf("features: backbone %s: model takes batches of %d, not %d", m.ID, fb, m.FixedBatch)
	}
	if out := s.Outputs(); out != 0 && out != m.Dim {
		s.Close()
		return nil, fmt.Errorf("features: backbone %s: output %q has %d values per image, want dim %d", m.ID, m.Output, out, m.Dim)
	}
	mb.sess = s
	return s, nil
}

// Close frees the onnxruntime sessions.
func (e *Extractor) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, mb := range e.ms {
		if mb.sess != nil {
			errs = append(errs, mb.sess.Close())
			mb.sess = nil
		}
	}
	return errors.Join(errs...)
}

// Extract returns the features of every item's views with the first
// model: out[i][j] is the Dim values of items[i].Views[j].
func (e *Extractor) Extract(ctx context.Context, items []Item) ([][][]float32, Stats, error) {
	all, st, err := e.ExtractAll(ctx, items)
	if err != nil {
		return nil, st, err
	}
	return all[0], st, nil
}

// ExtractAll returns the features of every item's views with every model:
// out[k][i][j] is model k's values of items[i].Views[j]. Views found in
// the cache are not recomputed; an image is decoded once for all its
// missing views and models, on Workers goroutines that prepare the next
// batch while the models run the current one, and each finished image's
// new views are stored in the cache. Cancelling ctx stops it within one
// batch and returns the context's error; images finished by then stay
// cached.
func (e *Extractor) ExtractAll(ctx context.Context, items []Item) ([][][][]float32, Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	st := Stats{Images: len(items)}
	out := make([][][][]float32, len(e.ms))
	for k := range out {
		out[k] = make([][][]float32, len(items))
	}
	var todo []task
	for i, it := range items {
		if err := e.validate(it); err != nil {
			return nil, st, err
		}
		st.Views += len(it.Views)
		t := task{item: i}
		need := make([]uint32, len(it.Views))
		for k, mb := range e.ms {
			out[k][i] = make([][]float32, len(it.Views))
			cached := e.lookup(mb, it, &st)
			for j, v := range it.Views {
				if f, ok := cached[v]; ok {
					out[k][i][j] = f
					st.Hits++
				} else {
					need[j] |= 1 << k
				}
			}
		}
		for j, mask := range need {
			if mask != 0 {
				t.views = append(t.views, view{index: j, models: mask})
			}
		}
		if len(t.views) == 0 {
			continue
		}
		if reason, bad := e.knownUndecodable(it); bad {
			st.Undecodable = append(st.Undecodable, Undecodable{Item: i, Reason: reason})
			continue
		}
		todo = append(todo, t)
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
	slices.SortFunc(st.Undecodable, func(a, b Undecodable) int { return a.Item - b.Item })
	for _, u := range st.Undecodable {
		for k := range out {
			out[k][u.Item] = nil
		}
	}
	return out, st, nil
}

// knownUndecodable reports whether the cache remembers the item's photo as
// undecodable (with SkipUndecodable only).
func (e *Extractor) knownUndecodable(it Item) (string, bool) {
	if !e.o.SkipUndecodable || e.o.Cache == nil {
		return "", false
	}
	return e.o.Cache.Undecodable(it.SHA256)
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

// lookup reads an item's cache entry of one model; a damaged one counts as
// a miss.
func (e *Extractor) lookup(mb *member, it Item, st *Stats) map[View][]float32 {
	if e.o.Cache == nil || len(it.Views) == 0 {
		return nil
	}
	m, err := e.o.Cache.Load(mb.namespace, it.SHA256, mb.m.Dim)
	if errors.Is(err, ErrCorrupt) {
		st.Corrupt++
	} else if err != nil && st.CacheErr == nil {
		st.CacheErr = err
	}
	return m
}
