package dataset

import (
	"fmt"
	"slices"
	"strings"

	"github.com/autocv/autocv/protocol/split"
)

// Fractions are the shares of each label's images that go to training,
// validation and test (protocol/split, the rule the control plane uses).
type Fractions = split.Fractions

// DefaultFractions is 70% train, 15% validation, 15% test.
func DefaultFractions() Fractions { return split.Default() }

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

// Split divides images into train, validation and test by the product's
// one rule, protocol/split (stratified per label, order seeded by each
// image's sha256): the control plane splits the same photos with the same
// seed the same way. Each split is sorted by ID.
func Split(images []Image, seed uint64, f Fractions) (Splits, error) {
	items := make([]split.Item, len(images))
	for i, im := range images {
		items[i] = split.Item{ID: im.ID, Label: im.Label, SHA256: im.SHA256}
	}
	where, err := split.Assign(items, seed, f)
	if err != nil {
		return Splits{}, err // wraps ErrBadFractions
	}
	var s Splits
	for i, im := range images {
		switch where[i] {
		case split.Test:
			s.Test = append(s.Test, im)
		case split.Validation:
			s.Val = append(s.Val, im)
		default:
			s.Train = append(s.Train, im)
		}
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
