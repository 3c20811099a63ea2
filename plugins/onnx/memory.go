package onnx

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/inference"
)

// Memory of the plugin process. Photo files are small and their pixels are
// not (a 130 KB PNG can decode to 128 MB), so the decodes running at once
// share one budget (preprocess.DecodeBudget), held until each image is its
// small tensor and sized per process from the environment the host starts
// the plugin with:
//
//	AUTOCV_DECODE_BUDGET_MB  the decode budget in MB: DefaultDecodeBudgetMB
//	                         (256) when unset; an edge box's agent passes
//	                         EdgeDecodeBudgetMB (160). It is also the
//	                         largest single image, by its estimate; larger
//	                         ones are refused as too large.
//	GOMEMLIMIT               Go's own soft limit; when unset the plugin sets
//	                         one at the budget + 64 MB for the rest of its Go
//	                         memory (requests, tensors, gRPC).
//
// The plugin's RSS then stays under about onnxruntime's share (the runtime
// and the model, some 70 MB for MobileNetV2) + the budget + 64 MB however
// many big photos arrive at once: at most about 390 MB by default and 290
// MB on an edge box. After a burst of big photos the plugin gives the
// memory back to the OS once no decode has run for a second.
const (
	DecodeBudgetEnv       = inference.DecodeBudgetEnv
	DefaultDecodeBudgetMB = 256
	EdgeDecodeBudgetMB    = inference.EdgeDecodeBudgetMB
	// MinDecodeBudgetMB still decodes a 12-megapixel photo (18 MB) at once.
	MinDecodeBudgetMB = 32

	memoryMargin = 64 << 20
)

// An image that took at least 1/collectFraction of the budget is collected
// as soon as it is the tensor, before its share of the budget goes to the
// next image: otherwise the next one's pixels are allocated while the last
// one's are still garbage waiting for the collector, and the process holds
// twice the budget. Collecting costs a few milliseconds (pixels hold no
// pointers), against hundreds to decode such an image.
const collectFraction = 8

// Returning memory after a burst: once decodes have stopped for
// reclaimDelay, after at least reclaimAfter was decoding at once, and not
// more often than every reclaimEvery (it costs a full garbage collection).
const (
	reclaimDelay = time.Second
	reclaimAfter = 32 << 20
	reclaimEvery = 10 * time.Second
)

// memorySettings is how the plugin process bounds its memory.
type memorySettings struct {
	DecodeBudget int64 // bytes
	// MemoryLimit is the Go runtime's soft limit in bytes; 0 where
	// GOMEMLIMIT set it.
	MemoryLimit int64
}

// parseMemorySettings reads the settings from the environment (getenv is
// os.Getenv).
func parseMemorySettings(getenv func(string) string) (memorySettings, error) {
	mb := int64(DefaultDecodeBudgetMB)
	if v := strings.TrimSpace(getenv(DecodeBudgetEnv)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < MinDecodeBudgetMB || n > 1<<20 {
			return memorySettings{}, fmt.Errorf("%s=%q: want a whole number of megabytes from %d to %d (edge box: %d, default %d)",
				DecodeBudgetEnv, v, MinDecodeBudgetMB, 1<<20, EdgeDecodeBudgetMB, DefaultDecodeBudgetMB)
		}
		mb = n
	}
	s := memorySettings{DecodeBudget: mb << 20}
	if getenv("GOMEMLIMIT") == "" {
		s.MemoryLimit = s.DecodeBudget + memoryMargin
	}
	return s, nil
}

// configureMemory applies s to this process: the decode budget, Go's soft
// memory limit, and giving memory back after bursts. The plugin binary
// calls it once at start (Serve); in-process users of the plugin (trainer,
// benchmarks) keep their own settings.
func configureMemory(s memorySettings) {
	preprocess.SetDecodeBudget(s.DecodeBudget)
	if s.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	r := &reclaimer{
		after: reclaimAfter, delay: reclaimDelay, every: reclaimEvery,
		free: debug.FreeOSMemory,
		busy: func() bool { return preprocess.DecodesInFlight() > 0 },
	}
	big := s.DecodeBudget / collectFraction
	preprocess.SetDecodeHooks(preprocess.DecodeHooks{
		Release: func(n int64) {
			if n >= big {
				runtime.GC()
			}
		},
		Idle: r.idle,
	})
}

// reclaimer gives memory back to the OS after a burst of big decodes. The
// Go runtime keeps freed heap for reuse and returns it only slowly, so a
// burst would otherwise leave the process at its peak for minutes.
type reclaimer struct {
	after        int64         // reclaimAfter
	delay, every time.Duration // reclaimDelay, reclaimEvery
	free         func()        // debug.FreeOSMemory
	busy         func() bool   // decodes in flight

	mu    sync.Mutex
	peak  int64 // most decoding at once since the last free
	last  time.Time
	timer *time.Timer
}

// idle is preprocess.OnDecodeIdle's callback: it (re)arms the timer, so the
// memory is freed once decodes have stopped for delay, and not sooner than
// every after the last time.
func (r *reclaimer) idle(peak int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peak = max(r.peak, peak)
	if r.peak < r.after {
		return
	}
	wait := max(r.delay, r.every-time.Since(r.last))
	if r.timer == nil {
		r.timer = time.AfterFunc(wait, r.fire)
	} else {
		r.timer.Reset(wait)
	}
}

func (r *reclaimer) fire() {
	if r.busy() {
		return // a decode started: its end arms the timer again
	}
	r.mu.Lock()
	r.peak, r.last = 0, time.Now()
	r.mu.Unlock()
	r.free()
}
