package preprocess

import (
	"context"
	"errors"
	"image"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func take(t *testing.T, b *budget, n int64) func() {
	t.Helper()
	release, err := b.acquire(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return release
}

func TestBudget(t *testing.T) {
	b := newBudget(10)
	first := take(t, b, 6)
	got := make(chan int64, 2)
	releases := make(chan func(), 2)
	go func() { releases <- take(t, b, 6); got <- 6 }()
	waitQueued(t, b, 1)
	go func() { releases <- take(t, b, 1); got <- 1 }() // fits, but must not overtake the 6
	waitQueued(t, b, 2)
	select {
	case n := <-got:
		t.Fatalf("acquire(%d) did not wait", n)
	case <-time.After(20 * time.Millisecond):
	}
	first()
	first() // a second call gives nothing back twice
	if a, c := <-got, <-got; a+c != 7 {
		t.Fatalf("got %d and %d", a, c)
	}
	// More than the whole budget is cut to it: it waits for the rest to be
	// given back, then goes through alone.
	done := make(chan struct{})
	go func() { take(t, b, 100)(); close(done) }()
	waitQueued(t, b, 1)
	(<-releases)()
	(<-releases)()
	<-done
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 0 || b.waiters.Len() != 0 {
		t.Errorf("used %d, %d waiting after everything was released", b.used, b.waiters.Len())
	}
}

// A waiter whose context ends leaves the line, and those behind it that
// now fit go in.
func TestBudgetCancel(t *testing.T) {
	b := newBudget(10)
	hold := take(t, b, 6)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.acquire(ctx, 8)
		errc <- err
	}()
	waitQueued(t, b, 1)
	small := make(chan func(), 1)
	go func() { small <- take(t, b, 4) }()
	waitQueued(t, b, 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	(<-small)()
	hold()
	if b.used != 0 || b.waiters.Len() != 0 {
		t.Errorf("used %d, %d waiting after everything was released", b.used, b.waiters.Len())
	}
}

// The Idle hook hears of the peak once nothing is taken any more, once per burst.
func TestBudgetIdle(t *testing.T) {
	b := newBudget(10)
	var peaks []int64
	b.hooks.Idle = func(p int64) { peaks = append(peaks, p) }
	a, c := take(t, b, 3), take(t, b, 5)
	a()
	c()
	take(t, b, 2)()
	if len(peaks) != 2 || peaks[0] != 8 || peaks[1] != 2 {
		t.Errorf("peaks %v, want [8 2]", peaks)
	}
}

func waitQueued(t *testing.T, b *budget, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		l := b.waiters.Len()
		b.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// withBudget swaps the process-wide budget for one of size for the test.
func withBudget(t *testing.T, size int64) {
	saved := decoding
	t.Cleanup(func() { decoding = saved })
	decoding = newBudget(size)
}

// TestDecodeWaitsForBudget: decodes take turns while the process-wide
// budget is spent, an image larger than the whole budget is refused, and
// all that was taken is given back.
func TestDecodeWaitsForBudget(t *testing.T) {
	data := encodePNG(t, pattern(200, 100)) // 80 KB decoded
	withBudget(t, 200<<10)                  // room for two

	hold := take(t, decoding, 150<<10)
	done := make(chan error, 1)
	go func() { _, err := Decode(data); done <- err }()
	waitQueued(t, decoding, 1)
	hold()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	var peak int64
	SetDecodeHooks(DecodeHooks{Idle: func(p int64) { peak = max(peak, p) }})
	for range 16 {
		wg.Go(func() {
			_, err := Decode(data)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if DecodesInFlight() != 0 {
		t.Errorf("%d bytes of the budget still taken", DecodesInFlight())
	}
	if peak == 0 || peak > 200<<10 {
		t.Errorf("peak %d bytes taken at once, want some and at most the budget", peak)
	}

	SetDecodeBudget(1 << 20)
	big := encodePNG(t, pattern(800, 400)) // 1.25 MB decoded
	_, err := Decode(big)
	_, _, cerr := DecodeConfig(big)
	for _, err := range []error{err, cerr} {
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over the limit of 1 MB") {
			t.Errorf("image over the whole budget: %v, want ErrTooLarge", err)
		}
	}
}

// DecodeTensor holds the decoded image's share and the resampler's buffers
// until the tensor is made, and stops waiting when its context ends.
func TestDecodeTensorHoldsBudget(t *testing.T) {
	data := encodePNG(t, pattern(400, 300))
	withBudget(t, 8<<20)
	var peak int64
	SetDecodeHooks(DecodeHooks{Idle: func(p int64) { peak = p }})
	s := ImageNet()
	dst := make([]float32, s.Len())
	if err := s.DecodeTensor(data, dst); err != nil {
		t.Fatal(err)
	}
	_, _, cost, err := header(data, defaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if want := cost + s.scratchBytes(400, 300); peak != want {
		t.Errorf("held %d bytes, want the decode's %d and the resampler's %d", peak, cost, want-cost)
	}

	hold := take(t, decoding, 8<<20)
	defer hold()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.DecodeTensorContext(ctx, data, dst); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past the deadline: %v", err)
	}
	if decoding.waiters.Len() != 0 {
		t.Error("the expired decode still waits")
	}
}

// scratchBytes must cover what the resampler really grows its buffers to.
func TestScratchBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Spec
		w, h int
	}{
		{"crop landscape", ImageNet(), 1200, 900},
		{"crop tall", ImageNet(), 300, 4000},
		{"crop small", ImageNet(), 100, 80},
		{"stretch tall", Spec{Size: 64, Mode: Stretch, Mean: [3]float32{.5, .5, .5}, Std: [3]float32{.5, .5, .5}}, 50, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hk, vk := tc.s.kernels(tc.w, tc.h, Box{})
			sw, rows := int64(hk.hi-hk.lo), int64(vk.hi-vk.lo)
			used := rows*int64(3*len(hk.n)) + sw*(3+8+4) + int64(tc.s.Len())*(1+4) + int64(3*tc.s.Size)*4
			if got := tc.s.scratchBytes(tc.w, tc.h); got < used || got > used+used/4+64<<10 {
				t.Errorf("estimate %d bytes, the resampler uses %d", got, used)
			}
		})
	}
}

// When DecodeTensor gives the budget back, nothing refers to the image any
// more: a collection in the Release hook frees it.
func TestReleaseHookCanFreeImage(t *testing.T) {
	withBudget(t, 64<<20)
	data := encodePNG(t, image.NewGray(image.Rect(0, 0, 3000, 3000))) // 9 MB decoded
	var before, during runtime.MemStats
	SetDecodeHooks(DecodeHooks{Release: func(n int64) {
		runtime.GC()
		runtime.ReadMemStats(&during)
	}})
	s := ImageNet()
	dst := make([]float32, s.Len())
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.DecodeTensor(data, dst); err != nil {
		t.Fatal(err)
	}
	if grew := int64(during.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("heap %d MB larger when the budget is given back: the decoded image is still reachable", grew>>20)
	}
}
