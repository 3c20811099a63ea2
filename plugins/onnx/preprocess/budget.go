package preprocess

import (
	"container/list"
	"context"
	"sync"
)

// decoding is the process-wide DecodeBudget.
var decoding = newBudget(DecodeBudget)

// SetDecodeBudget sets the size of the process's DecodeBudget, in bytes
// (at least 1 MB; smaller is taken as 1 MB). Call it once at start, before
// decoding: decodes already waiting keep their place, and one that asked
// for more than the new size is cut to it.
func SetDecodeBudget(size int64) { decoding.resize(max(size, 1<<20)) }

// DecodesInFlight is how much of the DecodeBudget is taken now, in bytes.
func DecodesInFlight() int64 {
	decoding.mu.Lock()
	defer decoding.mu.Unlock()
	return decoding.used
}

// DecodeHooks let the owner of the process act on the DecodeBudget's use,
// e.g. to collect garbage and give memory back to the OS. They run on the
// goroutine of the decode that triggers them and must not decode.
type DecodeHooks struct {
	// Release is called when a decode is about to give back n bytes of the
	// budget, before another decode can take them. After
	// Spec.DecodeTensor's Tensor nothing refers to the image any more, so a
	// garbage collection here frees it before the next decode allocates.
	Release func(n int64)
	// Idle is called each time the decodes in flight drop to none, with
	// the most of the budget taken at once since the previous call.
	Idle func(peak int64)
}

// SetDecodeHooks replaces the process's DecodeHooks; the zero value
// removes them.
func SetDecodeHooks(h DecodeHooks) {
	decoding.mu.Lock()
	defer decoding.mu.Unlock()
	decoding.hooks = h
}

// budget is a weighted semaphore: acquire(n) waits until n of its size is
// free, first come first served, so a big request is not starved by small
// ones.
type budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	peak    int64     // most used at once since the budget was last idle
	waiters list.List // of *waiter, in arrival order
	hooks   DecodeHooks
}

type waiter struct {
	n     int64
	ready chan struct{} // closed once granted
}

func newBudget(size int64) *budget { return &budget{size: size} }

func (b *budget) capacity() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// acquire takes n (at most the whole budget, at least 1), waiting while it
// is not free or until ctx is done, and returns the function that gives it
// back.
func (b *budget) acquire(ctx context.Context, n int64) (release func(), err error) {
	b.mu.Lock()
	w := &waiter{n: min(max(n, 1), b.size), ready: make(chan struct{})}
	release = sync.OnceFunc(func() {
		b.mu.Lock()
		f := b.hooks.Release
		b.mu.Unlock()
		if f != nil {
			f(w.n)
		}
		b.release(w)
	})
	if b.waiters.Len() == 0 && b.size-b.used >= w.n {
		b.take(w)
		b.mu.Unlock()
		return release, nil
	}
	e := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile: give it back, unused
		b.mu.Unlock()
		b.release(w)
	default:
		b.waiters.Remove(e)
		idle := b.grant() // those behind it may fit now
		b.mu.Unlock()
		idle()
	}
	return nil, ctx.Err()
}

// take gives w its share; b.mu is held.
func (b *budget) take(w *waiter) {
	b.used += w.n
	b.peak = max(b.peak, b.used)
}

func (b *budget) release(w *waiter) {
	b.mu.Lock()
	b.used -= w.n
	idle := b.grant()
	b.mu.Unlock()
	idle()
}

// grant lets waiters in, in order, while the first fits; b.mu is held. It
// returns what to call once b.mu is released: the Idle hook when nothing is
// taken any more, else nothing.
func (b *budget) grant() (idle func()) {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*waiter)
		if b.size-b.used < w.n {
			break // the first in line waits for more; nobody overtakes it
		}
		b.take(w)
		b.waiters.Remove(e)
		close(w.ready)
	}
	if b.used != 0 || b.peak == 0 || b.hooks.Idle == nil {
		return func() {}
	}
	f, peak := b.hooks.Idle, b.peak
	b.peak = 0
	return func() { f(peak) }
}

func (b *budget) resize(size int64) {
	b.mu.Lock()
	b.size = size
	for e := b.waiters.Front(); e != nil; e = e.Next() {
		w := e.Value.(*waiter)
		w.n = min(w.n, size)
	}
	idle := b.grant()
	b.mu.Unlock()
	idle()
}
