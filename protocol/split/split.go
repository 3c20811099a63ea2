// Package split is the product's one rule for dividing a labelled photo set
// into train, validation and test: the control plane applies it when it
// freezes a version's images, autocv-trainer when it trains from a folder,
// so the same photos with the same seed land in the same splits either way.
//
// The rule: each label is split on its own (stratified) with the same
// fractions, 70 / 15 / 15 by default, rounded to whole images. Within a
// label, each image's place comes from a PCG generator seeded with (seed,
// the first 64 bits of its sha256): the result does not depend on the
// order images are given in, adding photos moves few of the others, and a
// label's split does not depend on the other labels.
//
// Small labels: with 3 or more images every split with a positive fraction
// gets at least one image (and train at least one); with 2, one goes to
// train and one to test (to validation when Test is 0); a single image
// goes to train.
package split

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Names of the splits, as jobs and reports spell them.
const (
	Train      = "train"
	Validation = "validation"
	Test       = "test"
)

// Fractions are the shares of each label's images that go to training,
// validation and test. They need not sum to 1 (they are normalised); the
// zero value means Default.
type Fractions struct{ Train, Val, Test float64 }

// Default is 70% train, 15% validation, 15% test.
func Default() Fractions { return Fractions{Train: 0.7, Val: 0.15, Test: 0.15} }

// ErrBadFractions: a share is negative, not finite, or train is 0.
var ErrBadFractions = errors.New("invalid split fractions")

// Item is one image to place: its stable ID (unique), its label and the
// hex sha256 of its bytes (the ID stands in when it is not known).
type Item struct{ ID, Label, SHA256 string }

// Assign returns the split of each item (Train, Validation or Test), in
// the order of items.
func Assign(items []Item, seed uint64, f Fractions) ([]string, error) {
	if f == (Fractions{}) {
		f = Default()
	}
	for _, x := range []float64{f.Train, f.Val, f.Test} {
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: %+v: each must be a finite number >= 0", ErrBadFractions, f)
		}
	}
	if !(f.Train > 0) {
		return nil, fmt.Errorf("%w: %+v: the training share must be above 0", ErrBadFractions, f)
	}
	sum := f.Train + f.Val + f.Test
	f = Fractions{f.Train / sum, f.Val / sum, f.Test / sum}
	byLabel := map[string][]int{}
	for i, it := range items {
		byLabel[it.Label] = append(byLabel[it.Label], i)
	}
	out := make([]string, len(items))
	for _, group := range byLabel {
		keys := make(map[int]uint64, len(group))
		for _, i := range group {
			keys[i] = rand.New(rand.NewPCG(seed, contentKey(items[i]))).Uint64()
		}
		slices.SortFunc(group, func(a, b int) int {
			return cmp.Or(cmp.Compare(keys[a], keys[b]), strings.Compare(items[a].ID, items[b].ID))
		})
		_, nVal, nTest := Shares(len(group), f)
		for k, i := range group {
			switch {
			case k < nTest:
				out[i] = Test
			case k < nTest+nVal:
				out[i] = Validation
			default:
				out[i] = Train
			}
		}
	}
	return out, nil
}

// contentKey is 64 bits of the image's sha256, or a hash of its ID when
// the sha256 is unknown.
func contentKey(it Item) uint64 {
	if len(it.SHA256) >= 16 {
		if k, err := strconv.ParseUint(it.SHA256[:16], 16, 64); err == nil {
			return k
		}
	}
	h := fnv.New64a()
	h.Write([]byte(it.ID))
	return h.Sum64()
}

// Shares rounds a label of n images into train, validation and test
// counts (normalised fractions); see the package doc for small labels.
func Shares(n int, f Fractions) (train, val, test int) {
	switch {
	case n <= 0:
		return 0, 0, 0
	case n == 1:
		return 1, 0, 0
	case n == 2 && f.Test > 0:
		return 1, 0, 1
	case n == 2 && f.Val > 0:
		return 1, 1, 0
	case n == 2:
		return 2, 0, 0
	}
	atLeastOne := func(frac float64) int {
		k := int(math.Round(float64(n) * frac))
		if frac > 0 && k < 1 {
			k = 1
		}
		return k
	}
	val, test = atLeastOne(f.Val), atLeastOne(f.Test)
	for n-val-test < 1 { // give train its image back from the larger share
		if val > test && val > 1 || test <= 1 {
			val--
		} else {
			test--
		}
	}
	return n - val - test, val, test
}
