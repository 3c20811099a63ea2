package preprocess

import (
	"math"
	"sync"
)

// The resampler is Pillow's antialiased BILINEAR resize (libImaging
// Resample.c, the path torchvision's Resize takes for PIL images),
// reproduced operation for operation so that, given the same RGB pixels, it
// produces the same bytes:
//
//	scale  = (in1 - in0) / outSize            source pixels per output pixel
//	fscale = max(scale, 1)                    the filter widens when shrinking
//	support = 1 * fscale                      triangle filter radius
//	center = in0 + (xx + 0.5) * scale         for output pixel xx
//	xmin = int(center - support + 0.5) clamped to >= 0
//	xmax = int(center + support + 0.5) clamped to <= inSize
//	w[x] = max(0, 1 - |(xmin + x - center + 0.5) / fscale|), x in [0, xmax-xmin)
//	w[x] /= sum(w);  k[x] = int(w[x] * 2^22 + 0.5)          (22-bit fixed point)
//	out = clamp((2^21 + sum(k[x] * in[xmin + x])) >> 22, 0, 255)
//
// The weights are >= 0 and sum to about 2^22, so every sum is below 2^31.
//
// The horizontal pass runs first and its result is rounded to 8 bits, then
// the vertical pass, as in Pillow. Each output pixel's weights depend only
// on its own index, so computing just the outputs that survive the centre
// crop gives exactly the pixels of "resize everything, then crop", while
// reading only the source rows and columns those outputs touch.
//
// Determinism: weights are computed in float64 with every product wrapped
// in an explicit float64() conversion, which the Go spec says rounds and so
// forbids fusing it into a multiply-add (arm64 and GOAMD64=v3 would
// otherwise be allowed to use FMA and round differently). Everything after
// the weights is integer arithmetic, exact on every platform.

const precisionBits = 32 - 8 - 2 // Pillow's PRECISION_BITS

// kernel holds the fixed-point filter weights for count consecutive output
// pixels along one axis.
type kernel struct {
	lo, hi int     // source pixels [lo, hi) that any output touches
	start  []int   // per output: first source pixel
	n      []int   // per output: number of taps
	w      []int32 // per output: ksize weights, the first n used
	ksize  int
}

// kernelKey identifies a kernel: outputs [first, first+count) of resampling
// source interval [in0, in1) of an axis of in pixels to out pixels.
type kernelKey struct {
	in, out, first, count int
	in0, in1              float64
}

// Kernels are cached: a trainer sees the same few photo sizes many times.
// The cache is dropped whole when it fills, and kernels of absurd images
// (a stretch of a 100000×10 photo has a 900-tap filter) are not kept, which
// bounds its memory to about 256 × 64 KiB.
const (
	maxCachedKernels = 256
	maxCachedWeights = 16 << 10
)

var kernelCache = struct {
	sync.Mutex
	m map[kernelKey]*kernel
}{m: make(map[kernelKey]*kernel)}

func getKernel(key kernelKey) *kernel {
	kernelCache.Lock()
	k := kernelCache.m[key]
	kernelCache.Unlock()
	if k != nil {
		return k
	}
	k = newKernel(key)
	if len(k.w) > maxCachedWeights {
		return k
	}
	kernelCache.Lock()
	if len(kernelCache.m) >= maxCachedKernels {
		clear(kernelCache.m)
	}
	kernelCache.m[key] = k
	kernelCache.Unlock()
	return k
}

func newKernel(key kernelKey) *kernel {
	scale := (key.in1 - key.in0) / float64(key.out)
	fscale := max(scale, 1)
	support := fscale // the triangle filter's support is 1
	ksize := int(math.Ceil(support))*2 + 1
	ss := 1 / fscale
	k := &kernel{
		lo: math.MaxInt, hi: math.MinInt, ksize: ksize,
		start: make([]int, key.count), n: make([]int, key.count),
		w: make([]int32, key.count*ksize),
	}
	pre := make([]float64, ksize)
	for i := range key.count {
		center := key.in0 + float64((float64(key.first+i)+0.5)*scale)
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), key.in)
		n := min(xmax-xmin, ksize)
		if n < 1 { // only reachable with a degenerate box; take the nearest pixel
			xmin, n = min(max(int(center), 0), key.in-1), 1
		}
		ww := 0.0
		for x := range n {
			t := float64((float64(x+xmin) - center + 0.5) * ss)
			w := 1 - math.Abs(t)
			if w < 0 {
				w = 0
			}
			pre[x] = w
			ww += w
		}
		ws := k.w[i*ksize : i*ksize+n]
		for x := range n {
			w := pre[x]
			if ww != 0 {
				w /= ww
			} else if n == 1 {
				w = 1
			}
			// The triangle filter is never negative, so Pillow's rounding
			// branch for negative weights is not needed (horizontal relies
			// on this).
			ws[x] = int32(float64(w*(1<<precisionBits)) + 0.5)
		}
		k.start[i], k.n[i] = xmin, n
		k.lo, k.hi = min(k.lo, xmin), max(k.hi, xmin+n)
	}
	return k
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// resample fills out (len(vk.n) rows of len(hk.n) RGB pixels) from src.
func resample(src *rowReader, hk, vk *kernel, out []uint8, sc *scratch) {
	rowLen := 3 * len(hk.n)
	sw := hk.hi - hk.lo
	row := grow(&sc.row, 3*sw)
	rb := grow(&sc.rb, sw)
	g := grow(&sc.g, sw)
	tmp := grow(&sc.tmp, (vk.hi-vk.lo)*rowLen)
	for y := vk.lo; y < vk.hi; y++ {
		src.readPacked(y, hk.lo, hk.hi, row, rb, g)
		horizontal(rb, g, hk, tmp[(y-vk.lo)*rowLen:][:rowLen])
	}
	acc := grow(&sc.acc, rowLen)
	for j := range vk.n {
		ws := vk.w[j*vk.ksize : j*vk.ksize+vk.n[j]]
		first := tmp[(vk.start[j]-vk.lo)*rowLen:][:len(acc)]
		w0 := ws[0]
		for i, v := range first {
			acc[i] = 1<<(precisionBits-1) + int32(v)*w0
		}
		for t, w := range ws[1:] {
			r := tmp[(vk.start[j]+1+t-vk.lo)*rowLen:][:len(acc)]
			for i, v := range r {
				acc[i] += int32(v) * w
			}
		}
		o := out[j*rowLen:][:len(acc)]
		for i, a := range acc {
			o[i] = clip8(a)
		}
	}
}

// horizontal resamples one row given as packed red|blue<<32 and green
// values starting at source pixel k.lo. The weights are never negative and
// each sum stays below 2^31, so red and blue share one 64-bit multiply
// without carrying into each other.
func horizontal(rb []uint64, g []uint32, k *kernel, dst []uint8) {
	dst = dst[:3*len(k.start)]
	const half = 1 << (precisionBits - 1)
	for i, s := range k.start {
		ws := k.w[i*k.ksize : i*k.ksize+k.n[i]]
		prb := rb[s-k.lo:][:len(ws)]
		pg := g[s-k.lo:][:len(ws)]
		arb, ag := uint64(half|half<<32), uint32(half)
		for t, w := range ws {
			arb += prb[t] * uint64(w)
			ag += pg[t] * uint32(w)
		}
		d := dst[3*i : 3*i+3 : 3*i+3]
		d[0], d[1], d[2] = clipU(uint32(arb)), clipU(ag), clipU(uint32(arb>>32))
	}
}

func clipU(v uint32) uint8 {
	return uint8(min(v>>precisionBits, 255))
}

// scratch holds per-call buffers, reused through a pool.
type scratch struct {
	row, tmp, px []uint8
	acc          []int32
	rb           []uint64
	g            []uint32
	fx           []float32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow[T any](b *[]T, n int) []T {
	if cap(*b) < n {
		*b = make([]T, n)
	}
	return (*b)[:n]
}
