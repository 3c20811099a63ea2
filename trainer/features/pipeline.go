package features

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// task is one image with the views still to compute.
type task struct {
	item  int
	views []view
}

// view is one view of an image (an index into its Views) and the models
// (a bit per Extractor member) that still need it.
type view struct {
	index  int
	models uint32
}

// slot is one view's input tensor on its way to the models; refs counts
// the models that have not yet copied it into a batch. A slot with a
// non-empty undecodable (and no tensor) says its image failed to decode.
type slot struct {
	item, view  int
	models      uint32
	tensor      *[]float32
	refs        int
	undecodable string
	remember    bool // cache the verdict: the photo is bad whatever the machine's limits
}

// batcher collects one model's slots into batches and runs them.
type batcher struct {
	mb      *member
	sess    *engine.Session
	size    int // views per run
	fixed   int // the model's fixed batch, or 0
	in      []float32
	pending []*slot
}

// run computes the views in todo. A feeder hands images to Workers
// decoders; each decodes its image once and sends one tensor per missing
// view into a channel that holds one batch, so the next batch is being
// prepared while the models run the current one; this goroutine hands
// each tensor to every model that needs it, runs a model whenever its
// batch is full, reports progress and hands finished images to a writer
// goroutine that stores them in the cache while the models run on.
func (e *Extractor) run(ctx context.Context, items []Item, todo []task, out [][][][]float32, st *Stats, done int) error {
	per := e.o.Spec.Len()
	batchers, err := e.batchers(todo, per)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	pool := sync.Pool{New: func() any { b := make([]float32, per); return &b }}
	tasks, slots := make(chan task), make(chan *slot, e.o.Batch)
	var wg sync.WaitGroup
	var decodeNS, decoded atomic.Int64
	wg.Go(func() {
		defer close(tasks)
		for _, t := range todo {
			select {
			case tasks <- t:
			case <-ctx.Done():
				return
			}
		}
	})
	for range e.o.Workers {
		wg.Go(func() {
			for t := range tasks {
				if ctx.Err() != nil {
					continue // stopped: drain without decoding
				}
				if err := e.prepare(ctx, items[t.item], t, &pool, slots, &decodeNS); err != nil {
					cancel(err)
					return
				}
				decoded.Add(1)
			}
		})
	}
	go func() { wg.Wait(); close(slots) }() // ends once every worker has

	// left counts, per image, the (model, view) pairs still to compute;
	// computed has a bit per model that computed some of them.
	left, computed := make([]int, len(items)), make([]uint32, len(items))
	for _, t := range todo {
		for _, v := range t.views {
			left[t.item] += bits.OnesCount32(v.models)
			computed[t.item] |= v.models
		}
	}
	writes, written := make(chan int, 64), make(chan error)
	go func() { // the cache writer; run waits for it below
		var first error
		for i := range writes {
			if err := e.store(items[i], out, i, computed[i]); err != nil && first == nil {
				first = err
			}
		}
		written <- first
	}()
	defer func() {
		close(writes)
		if err := <-written; err != nil && st.CacheErr == nil {
			st.CacheErr = err
		}
	}()

	progress := func() {
		done++
		if e.o.Progress != nil {
			e.o.Progress(done, len(items))
		}
	}
	finished := func(item int) {
		if left[item]--; left[item] > 0 {
			return
		}
		if e.o.Cache != nil {
			writes <- item
		}
		progress()
	}
	flush := func(k int) error {
		b := batchers[k]
		if len(b.pending) == 0 {
			return nil
		}
		res, err := b.flush(&pool, st)
		if err != nil {
			return err
		}
		dim := b.mb.m.Dim
		for n, s := range b.pending {
			out[k][s.item][s.view] = res[n*dim : (n+1)*dim : (n+1)*dim]
			st.Computed++
			finished(s.item)
		}
		b.pending = b.pending[:0]
		return nil
	}
	for s := range slots {
		if ctx.Err() != nil {
			break
		}
		if s.undecodable != "" {
			st.Undecodable = append(st.Undecodable, Undecodable{Item: s.item, Reason: s.undecodable})
			if e.o.Cache != nil && s.remember {
				if err := e.o.Cache.MarkUndecodable(items[s.item].SHA256, s.undecodable); err != nil && st.CacheErr == nil {
					st.CacheErr = err
				}
			}
			progress()
			continue
		}
		s.refs = bits.OnesCount32(s.models)
		for k, b := range batchers {
			if s.models&(1<<k) == 0 {
				continue
			}
			if b.pending = append(b.pending, s); len(b.pending) == b.size {
				if err := flush(k); err != nil {
					cancel(err)
					break
				}
			}
		}
	}
	for range slots { // after a stop: let the workers see it and exit
	}
	st.Decoded, st.Decode = int(decoded.Load()), time.Duration(decodeNS.Load())
	if err := context.Cause(ctx); err != nil {
		return err
	}
	for k := range batchers {
		if err := flush(k); err != nil {
			return err
		}
	}
	return nil
}

// batchers opens a session for every model some view in todo needs; the
// others get a batcher that is never fed.
func (e *Extractor) batchers(todo []task, per int) ([]*batcher, error) {
	var needed uint32
	for _, t := range todo {
		for _, v := range t.views {
			needed |= v.models
		}
	}
	out := make([]*batcher, len(e.ms))
	for k, mb := range e.ms {
		b := &batcher{mb: mb, size: e.o.Batch}
		out[k] = b
		if needed&(1<<k) == 0 {
			continue
		}
		sess, err := e.session(mb)
		if err != nil {
			return nil, err
		}
		b.sess = sess
		if b.fixed = sess.FixedBatch(); b.fixed > 0 {
			b.size = b.fixed
		}
		b.in = make([]float32, b.size*per)
	}
	return out, nil
}

// flush copies the pending tensors into one input (giving each back to
// the pool once every model has copied it) and runs the model.
func (b *batcher) flush(pool *sync.Pool, st *Stats) ([]float32, error) {
	per := len(b.in) / b.size
	n, runN := len(b.pending), len(b.pending)
	if b.fixed > 1 {
		runN = b.fixed // pad a short last batch with zeros
		clear(b.in[n*per : runN*per])
	}
	for k, s := range b.pending {
		copy(b.in[k*per:(k+1)*per], *s.tensor)
		if s.refs--; s.refs == 0 {
			pool.Put(s.tensor)
		}
	}
	t0 := time.Now()
	res, err := b.sess.Run(b.in[:runN*per], runN)
	st.Model += time.Since(t0)
	st.Runs++
	m := b.mb.m
	if err != nil {
		return nil, fmt.Errorf("features: backbone %s: %w", m.ID, err)
	}
	if len(res) != runN*m.Dim {
		return nil, fmt.Errorf("features: backbone %s: %d values for %d images, want dim %d each", m.ID, len(res), runN, m.Dim)
	}
	return res, nil
}

// prepare decodes one image and sends a tensor per missing view.
func (e *Extractor) prepare(ctx context.Context, it Item, t task, pool *sync.Pool, slots chan<- *slot, ns *atomic.Int64) error {
	t0 := time.Now()
	data := it.Data
	if data == nil {
		var err error
		if data, err = os.ReadFile(it.Path); err != nil {
			return fmt.Errorf("features: image %s: %w", it.ID, err)
		}
	}
	img, err := preprocess.Decode(data)
	if err != nil && e.o.SkipUndecodable && undecodableErr(err) {
		select {
		case slots <- &slot{item: t.item, undecodable: err.Error(), remember: rememberable(err, it, data)}:
		case <-ctx.Done():
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("features: image %s: %w", it.ID, err)
	}
	key := cmp.Or(it.SHA256, it.ID)
	views := t.views
	// The flip view is the plain view's tensor mirrored: when both are
	// wanted, it is made from the plain one (before that one is sent off
	// and may go back to the pool) instead of resampling the photo again.
	var mirrored *slot
	plain, flip := viewIndex(it, views, Orig), viewIndex(it, views, Flip)
	if plain >= 0 && flip >= 0 {
		mirrored = &slot{item: t.item, view: views[flip].index, models: views[flip].models, tensor: pool.Get().(*[]float32)}
		views = slices.Delete(slices.Clone(views), flip, flip+1)
	}
	for _, v := range views {
		buf := pool.Get().(*[]float32)
		if err := e.o.Spec.TensorView(img, it.Views[v.index].Preprocess(key), *buf); err != nil {
			return fmt.Errorf("features: image %s, view %s: %w", it.ID, it.Views[v.index], err)
		}
		if mirrored != nil && it.Views[v.index] == Orig {
			mirror(*mirrored.tensor, *buf, e.o.Spec.Size)
		}
		ns.Add(int64(time.Since(t0)))
		if !send(ctx, slots, &slot{item: t.item, view: v.index, models: v.models, tensor: buf}) {
			return nil
		}
		t0 = time.Now()
	}
	if mirrored != nil {
		send(ctx, slots, mirrored)
	}
	return nil
}

func send(ctx context.Context, slots chan<- *slot, s *slot) bool {
	select {
	case slots <- s:
		return true
	case <-ctx.Done():
		return false
	}
}

// viewIndex is the index into views of the one that is v, or -1.
func viewIndex(it Item, views []view, v View) int {
	return slices.IndexFunc(views, func(x view) bool { return it.Views[x.index] == v })
}

// mirror writes src, three side×side planes, mirrored left to right into
// dst: exactly what preprocess.View.Flip does to a finished tensor.
func mirror(dst, src []float32, side int) {
	for row := 0; row < len(src)/side; row++ {
		s, d := src[row*side:][:side], dst[row*side:][:side]
		for x, v := range s {
			d[side-1-x] = v
		}
	}
}

// rememberable reports whether a decode failure may be cached as the
// photo's verdict: only a corrupt photo (not the machine's own limits,
// ErrTooLarge, nor a format a later decoder may learn), and only when the
// bytes read are those the item's sha256 names (a file rewritten since it
// was hashed must not condemn the good bytes).
func rememberable(err error, it Item, data []byte) bool {
	if !errors.Is(err, preprocess.ErrCorrupt) {
		return false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == it.SHA256
}

// undecodableErr reports whether err says the photo itself is bad (or too
// big for this machine's decode limits), not that something around it
// failed.
func undecodableErr(err error) bool {
	return errors.Is(err, preprocess.ErrCorrupt) || errors.Is(err, preprocess.ErrUnsupportedFormat) ||
		errors.Is(err, preprocess.ErrTooLarge)
}

// store adds an image's views to the cache, one entry per model that
// computed some of them.
func (e *Extractor) store(it Item, out [][][][]float32, i int, models uint32) error {
	var first error
	for k, mb := range e.ms {
		if models&(1<<k) == 0 {
			continue
		}
		m := make(map[View][]float32, len(it.Views))
		for j, v := range it.Views {
			m[v] = out[k][i][j]
		}
		if err := e.o.Cache.Store(mb.namespace, it.SHA256, mb.m.Dim, m); err != nil && first == nil {
			first = err
		}
	}
	return first
}
