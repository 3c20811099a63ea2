// Package features turns photos into backbone features for the trainer's
// head (DESIGN.md "Data flow" step 2): each image is decoded once, every
// view it needs is made from that decode with preprocess.TensorView, views
// are run through a feature model in batches while the next ones decode,
// and the results are cached on disk by (image sha256, backbone, view), so
// a new version of the same data skips extraction.
//
// A feature model is an ONNX graph with input "input" [N,3,H,W] (the
// preprocess.Spec tensor) and one output "features" float32 [N,D]: the
// backbone's pooled feature, not normalised (trainer/graph makes it).
package features

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// View names one augmented view of a photo. The names are cache keys:
// never change what a name means; add a new name instead (or bump
// viewsVersion, which empties every cache).
type View string

// The views. The crops are 80% of the eval frame (the square the plain
// tensor shows), enlarged to fill the input.
const (
	Orig     View = "orig"       // the eval tensor, what the device sees
	Flip     View = "flip"       // mirrored left to right
	CropTL   View = "crop-tl"    // top-left 0.8 of the eval frame
	CropTR   View = "crop-tr"    // top-right 0.8
	CropBL   View = "crop-bl"    // bottom-left 0.8
	CropBR   View = "crop-br"    // bottom-right 0.8
	Center08 View = "center-0.8" // centred 0.8
	Jitter   View = "jitter"     // mild colour jitter, fixed per image (see Preprocess)
)

// viewsVersion is part of every cache namespace: bump it when a view's
// definition or the extraction changes, so old features are not reused.
const viewsVersion = 1

// JitterRange is how far the jitter view moves brightness, contrast and
// saturation from 1: each factor is drawn from [1-JitterRange, 1+JitterRange].
const JitterRange = 0.2

// AllViews lists every view, Orig first.
func AllViews() []View {
	return []View{Orig, Flip, CropTL, CropTR, CropBL, CropBR, Center08, Jitter}
}

var boxes = map[View]preprocess.Box{
	CropTL:   {X0: 0, Y0: 0, X1: 0.8, Y1: 0.8},
	CropTR:   {X0: 0.2, Y0: 0, X1: 1, Y1: 0.8},
	CropBL:   {X0: 0, Y0: 0.2, X1: 0.8, Y1: 1},
	CropBR:   {X0: 0.2, Y0: 0.2, X1: 1, Y1: 1},
	Center08: {X0: 0.1, Y0: 0.1, X1: 0.9, Y1: 0.9},
}

// Valid reports whether v is one of AllViews.
func (v View) Valid() bool {
	switch v {
	case Orig, Flip, Jitter:
		return true
	}
	_, ok := boxes[v]
	return ok
}

// ParseView checks a view name, e.g. from a recipe or a flag.
func ParseView(s string) (View, error) {
	if v := View(s); v.Valid() {
		return v, nil
	}
	return "", fmt.Errorf("features: unknown view %q (want one of %v)", s, AllViews())
}

// Preprocess returns the preprocessing view for an image. key seeds the
// jitter view (the image's sha256, so the same photo always gets the same
// colours, wherever it is); the other views ignore it.
func (v View) Preprocess(key string) preprocess.View {
	switch v {
	case Flip:
		return preprocess.View{Flip: true}
	case Jitter:
		r := rand.New(rand.NewPCG(jitterSeed(key)))
		f := func() float32 { return float32(1 - JitterRange + 2*JitterRange*r.Float64()) }
		b, c, s := f(), f(), f()
		return preprocess.View{Brightness: b, Contrast: c, Saturation: s}
	}
	return preprocess.View{Crop: boxes[v]} // the zero Box for Orig
}

// jitterSeed makes two PCG seeds from a hex sha256 (its first 32 digits),
// or from a hash of any other key.
func jitterSeed(key string) (uint64, uint64) {
	if len(key) >= 32 {
		if _, err := hex.DecodeString(key[:32]); err == nil {
			a, _ := strconv.ParseUint(key[:16], 16, 64)
			b, _ := strconv.ParseUint(key[16:32], 16, 64)
			return a, b
		}
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64(), viewsVersion
}
