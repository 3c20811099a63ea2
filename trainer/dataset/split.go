package dataset

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Fractions are the shares of each label's images that go to training,
// validation and test. They need not sum to 1 (they are normalised); the
// zero value means DefaultFractions.
type Fractions struct{ Train, Val, Test float64 }

// DefaultFractions is 70% train, 15% validation, 15% test.
func DefaultFractions() Fractions { return Fractions{Train: 0.7, Val: 0.15, Test: 0.15} }

// DefaultValFraction is the share of a training folder SplitWithTest
// holds out for validation when asked for 0.
const DefaultValFraction = 0.15

// Splits holds the images of each split, each sorted by ID. Test never
// touches training or model selection; after selection the trainer refits
// on Train + Val.
type Splits struct {
	Train, Val, Test []Image
	// Overlap lists the IDs of training-folder images that SplitWithTest
	// left out because the same bytes are in the test folder.
	Overlap []string
}

// Split divides images into train, validation and test, stratified: each
// label is split on its own with the same fractions, rounded to whole
// images. It is deterministic for a seed and does not depend on the order
// of images. Each image's place in the order comes from a PCG generator
// seeded with (seed, the image's sha256), so adding images to a dataset
// moves few of the others between splits, and a label's split does not
// depend on the other labels.
//
// Small labels: with 3 or more images every split with a positive
// fraction gets at least one image (and train at least one); with 2, one
// goes to train and one to test (to validation when Test is 0); a single
// image goes to train.
func Split(images []Image, seed uint64, f Fractions) (Splits, error) {
	if f == (Fractions{}) {
		f = DefaultFractions()
	}
	for _, x := range []float64{f.Train, f.Val, f.Test} {
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return Splits{}, fmt.Errorf("%w: %+v: each must be a finite number >= 0", ErrBadFractions, f)
		}
	}
	sum := f.Train + f.Val + f.Test
	if !(f.Train > 0) {
		return Splits{}, fmt.Errorf("%w: %+v: the training share must be above 0", ErrBadFractions, f)
	}
	f = Fractions{f.Train / sum, f.Val / sum, f.Test / sum}
	var s Splits
	for _, group := range byLabel(images) {
		order(group, seed)
		_, nVal, nTest := shares(len(group), f)
		s.Test = append(s.Test, group[:nTest]...)
		s.Val = append(s.Val, group[nTest:nTest+nVal]...)
		s.Train = append(s.Train, group[nTest+nVal:]...)
	}
	for _, part := range [][]Image{s.Train, s.Val, s.Test} {
		slices.SortFunc(part, byID)
	}
	return s, nil
}

// SplitWithTest is for a caller with a separate held-out folder (e.g.
// hymenoptera/train and hymenoptera/val): test is the test split as given,
// and train is split into train and validation (val is the validation
// share, 0 = DefaultValFraction) as Split does. Training images whose
// bytes also appear in test are left out and listed in Splits.Overlap, so
// the test stays unseen; a test image of a label train lacks is an error.
func SplitWithTest(train, test []Image, seed uint64, val float64) (Splits, error) {
	if val == 0 {
		val = DefaultValFraction
	}
	if !(val > 0 && val < 1) {
		return Splits{}, fmt.Errorf("%w: validation share %v must be between 0 and 1", ErrBadFractions, val)
	}
	labels, inTest := map[string]bool{}, map[string]bool{}
	for _, im := range train {
		labels[im.Label] = true
	}
	for _, im := range test {
		if !labels[im.Label] {
			return Splits{}, fmt.Errorf("%w: %s is labelled %q, which has no training images", ErrUnknownLabel, im.ID, im.Label)
		}
		inTest[im.SHA256] = true
	}
	var kept []Image
	var overlap []string
	for _, im := range train {
		if im.SHA256 != "" && inTest[im.SHA256] {
			overlap = append(overlap, im.ID)
			continue
		}
		kept = append(kept, im)
	}
	s, err := Split(kept, seed, Fractions{Train: 1 - val, Val: val})
	if err != nil {
		return Splits{}, err
	}
	s.Test = slices.SortedFunc(slices.Values(test), byID)
	s.Overlap = overlap
	slices.Sort(s.Overlap)
	return s, nil
}

func byID(a, b Image) int { return strings.Compare(a.ID, b.ID) }

// byLabel groups images by label, labels in sorted order; the groups are
// copies.
func byLabel(images []Image) [][]Image {
	m := map[string][]Image{}
	for _, im := range images {
		m[im.Label] = append(m[im.Label], im)
	}
	var out [][]Image
	for _, l := range slices.Sorted(func(yield func(string) bool) {
		for l := range m {
			if !yield(l) {
				return
			}
		}
	}) {
		out = append(out, m[l])
	}
	return out
}

// order sorts one label's images into their seeded random order.
func order(group []Image, seed uint64) {
	keys := make(map[string]uint64, len(group))
	for _, im := range group {
		keys[im.ID] = rand.New(rand.NewPCG(seed, contentKey(im))).Uint64()
	}
	slices.SortFunc(group, func(a, b Image) int {
		return cmp.Or(cmp.Compare(keys[a.ID], keys[b.ID]), strings.Compare(a.ID, b.ID))
	})
}

// contentKey is 64 bits of the image's sha256, or a hash of its ID when
// the sha256 is unknown.
func contentKey(im Image) uint64 {
	if len(im.SHA256) >= 16 {
		if k, err := strconv.ParseUint(im.SHA256[:16], 16, 64); err == nil {
			return k
		}
	}
	h := fnv.New64a()
	h.Write([]byte(im.ID))
	return h.Sum64()
}

// shares rounds a label of n images into train, validation and test
// counts; see Split for the small-label rule.
func shares(n int, f Fractions) (train, val, test int) {
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

// Sizes are the image counts of the splits, overall and per label.
type Sizes struct {
	Train  int          `json:"train"`
	Val    int          `json:"validation"`
	Test   int          `json:"test"`
	Labels []LabelSizes `json:"labels"` // sorted by label
}

// LabelSizes are one label's image counts per split.
type LabelSizes struct {
	Label string `json:"label"`
	Train int    `json:"train"`
	Val   int    `json:"validation"`
	Test  int    `json:"test"`
}

// Sizes counts the images of each split, for the report.
func (s Splits) Sizes() Sizes {
	m := map[string]*LabelSizes{}
	count := func(part []Image, pick func(*LabelSizes) *int) {
		for _, im := range part {
			ls := m[im.Label]
			if ls == nil {
				ls = &LabelSizes{Label: im.Label}
				m[im.Label] = ls
			}
			*pick(ls)++
		}
	}
	count(s.Train, func(l *LabelSizes) *int { return &l.Train })
	count(s.Val, func(l *LabelSizes) *int { return &l.Val })
	count(s.Test, func(l *LabelSizes) *int { return &l.Test })
	out := Sizes{Train: len(s.Train), Val: len(s.Val), Test: len(s.Test)}
	for _, ls := range m {
		out.Labels = append(out.Labels, *ls)
	}
	slices.SortFunc(out.Labels, func(a, b LabelSizes) int { return strings.Compare(a.Label, b.Label) })
	return out
}

// String is a one-line summary: "train 171, validation 37, test 37".
func (s Sizes) String() string {
	return fmt.Sprintf("train %d, validation %d, test %d", s.Train, s.Val, s.Test)
}
