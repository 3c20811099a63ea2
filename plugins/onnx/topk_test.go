package onnx

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// The windowed top-k must give exactly what a stable full sort gives,
// ties included.
func TestTopKMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 5, 40, 1000} {
		labels := make([]string, n)
		for i := range labels {
			labels[i] = fmt.Sprint(i)
		}
		m := &model{manifest: &modelpkg.Manifest{Labels: labels}}
		for trial := range 50 {
			probs := make([]float32, n)
			for i := range probs {
				probs[i] = float32(r.IntN(20)) / 20 // many ties
			}
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
			for _, k := range []int{1, 3, 5, n} {
				if k > n {
					continue
				}
				want := m.labels(probs, idx[:k])
				got := m.topK(probs, k)
				if !slices.Equal(got, want) {
					t.Fatalf("n=%d trial %d k=%d: got %v, want %v", n, trial, k, got, want)
				}
			}
		}
	}
}

// A decode failure crosses the plugin boundary with a typed code.
func TestImageErrCode(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: gif is not supported", preprocess.ErrUnsupportedFormat): inference.ImageUnsupportedFormat,
		fmt.Errorf("%w: 40000x40000", preprocess.ErrTooLarge):                   inference.ImageTooLarge,
		fmt.Errorf("%w: unexpected EOF", preprocess.ErrCorrupt):                 inference.ImageCorrupt,
		errors.New("anything else"):                                             inference.ImageCorrupt,
	} {
		if got := imageErrCode(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}
