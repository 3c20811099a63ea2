package features

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// task is one image with the indexes (into its Views) still to compute.
type task struct {
	item  int
	views []int
}

// slot is one view's input tensor on its way to the model.
type slot struct {
	item, view int
	tensor     *[]float32
}

// run computes the views in todo. A feeder hands images to Workers
// decoders; each decodes its image once and sends one tensor per view
// into a channel that holds one batch, so the next batch is being
// prepared while the model runs; this goroutine batches, runs the model,
// reports progress and hands finished images to a writer goroutine that
// stores them in the cache while the model runs on.
func (e *Extractor) run(ctx context.Context, items []Item, todo []task, out [][][]float32, st *Stats, done int) error {
	sess, err := e.session()
	if err != nil {
		return err
	}
	batch, fixed := e.o.Batch, sess.FixedBatch()
	if fixed > 0 {
		batch = fixed
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	per := e.o.Spec.Len()
	pool := sync.Pool{New: func() any { b := make([]float32, per); return &b }}
	tasks, slots := make(chan task), make(chan slot, batch)
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
				if err := e.prepare(ctx, items[t.item], t, &pool, slots, &decodeNS); err != nil {
					cancel(err)
					return
				}
				decoded.Add(1)
			}
		})
	}
	go func() { wg.Wait(); close(slots) }() // ends once every worker has

	writes, written := make(chan int, 64), make(chan error)
	go func() { // the cache writer; run waits for it below
		var first error
		for i := range writes {
			if err := e.store(items[i], out[i]); err != nil && first == nil {
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

	left := make([]int, len(items))
	for _, t := range todo {
		left[t.item] = len(t.views)
	}
	in := make([]float32, batch*per)
	pending := make([]slot, 0, batch)
	flush := func() error {
		n, runN := len(pending), len(pending)
		if fixed > 1 {
			runN = fixed // pad a short last batch with zeros
			clear(in[n*per : runN*per])
		}
		for k, s := range pending {
			copy(in[k*per:(k+1)*per], *s.tensor)
			pool.Put(s.tensor)
		}
		t0 := time.Now()
		res, err := sess.Run(in[:runN*per], runN)
		st.Model += time.Since(t0)
		st.Runs++
		if err != nil {
			return fmt.Errorf("features: backbone %s: %w", e.m.ID, err)
		}
		if len(res) != runN*e.m.Dim {
			return fmt.Errorf("features: backbone %s: %d values for %d images, want dim %d each", e.m.ID, len(res), runN, e.m.Dim)
		}
		for k, s := range pending {
			out[s.item][s.view] = res[k*e.m.Dim : (k+1)*e.m.Dim : (k+1)*e.m.Dim]
			st.Computed++
			if left[s.item]--; left[s.item] == 0 {
				if e.o.Cache != nil {
					writes <- s.item
				}
				done++
				if e.o.Progress != nil {
					e.o.Progress(done, len(items))
				}
			}
		}
		pending = pending[:0]
		return nil
	}
	for s := range slots {
		pending = append(pending, s)
		if len(pending) < batch {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if err := flush(); err != nil {
			cancel(err)
			break
		}
	}
	for range slots { // after a stop: let the workers see it and exit
	}
	st.Decoded, st.Decode = int(decoded.Load()), time.Duration(decodeNS.Load())
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if len(pending) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}

// prepare decodes one image and sends a tensor per missing view.
func (e *Extractor) prepare(ctx context.Context, it Item, t task, pool *sync.Pool, slots chan<- slot, ns *atomic.Int64) error {
	t0 := time.Now()
	data := it.Data
	if data == nil {
		var err error
		if data, err = os.ReadFile(it.Path); err != nil {
			return fmt.Errorf("features: image %s: %w", it.ID, err)
		}
	}
	img, err := preprocess.Decode(data)
	if err != nil {
		return fmt.Errorf("features: image %s: %w", it.ID, err)
	}
	key := cmp.Or(it.SHA256, it.ID)
	for _, j := range t.views {
		buf := pool.Get().(*[]float32)
		if err := e.o.Spec.TensorView(img, it.Views[j].Preprocess(key), *buf); err != nil {
			return fmt.Errorf("features: image %s, view %s: %w", it.ID, it.Views[j], err)
		}
		ns.Add(int64(time.Since(t0)))
		select {
		case slots <- slot{item: t.item, view: j, tensor: buf}:
		case <-ctx.Done():
			return nil
		}
		t0 = time.Now()
	}
	return nil
}

// store adds an image's views to the cache.
func (e *Extractor) store(it Item, feats [][]float32) error {
	m := make(map[View][]float32, len(feats))
	for j, v := range it.Views {
		m[v] = feats[j]
	}
	return e.o.Cache.Store(e.namespace, it.SHA256, e.m.Dim, m)
}
