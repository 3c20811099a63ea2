package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/autocv/autocv/protocol/split"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fakeImages makes n images per label with distinct made-up contents.
func fakeImages(counts map[string]int) []Image {
	var out []Image
	for label, n := range counts {
		for i := range n {
			id := fmt.Sprintf("%s/%03d.jpg", label, i)
			sum := sha256.Sum256([]byte(id))
			out = append(out, Image{ID: id, Label: label, SHA256: hex.EncodeToString(sum[:])})
		}
	}
	return out
}

func ids(images []Image) []string {
	out := make([]string, len(images))
	for i, im := range images {
		out[i] = im.ID
	}
	return out
}

func TestSplitStratifiedDeterministic(t *testing.T) {
	images := fakeImages(map[string]int{"ants": 122, "bees": 121, "wasps": 20})
	s, err := Split(images, 7, Fractions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []LabelSizes{{"ants", 86, 18, 18}, {"bees", 85, 18, 18}, {"wasps", 14, 3, 3}}
	if got := s.Sizes(); !reflect.DeepEqual(got.Labels, want) || got.String() != "train 185, validation 39, test 39" {
		t.Fatalf("sizes %+v (%v), want %+v", got.Labels, got, want)
	}
	seen := map[string]bool{}
	for _, part := range [][]Image{s.Train, s.Val, s.Test} {
		for _, im := range part {
			if seen[im.ID] {
				t.Fatalf("%s in two splits", im.ID)
			}
			seen[im.ID] = true
		}
	}
	if len(seen) != len(images) {
		t.Fatalf("%d images in the splits, want %d", len(seen), len(images))
	}

	// Same seed, shuffled input: the same split.
	shuffled := append([]Image(nil), images...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, _ := Split(shuffled, 7, Fractions{})
	if !reflect.DeepEqual(s, again) {
		t.Fatal("same seed gave another split")
	}
	other, _ := Split(images, 8, Fractions{})
	if reflect.DeepEqual(ids(s.Test), ids(other.Test)) {
		t.Fatal("another seed gave the same test split")
	}
	// A label's split does not depend on the other labels.
	alone, _ := Split(fakeImages(map[string]int{"wasps": 20}), 7, Fractions{})
	if !reflect.DeepEqual(ids(alone.Test), ids(s.Test[len(s.Test)-3:])) {
		t.Fatalf("wasps test %v alone, %v with others", ids(alone.Test), ids(s.Test[len(s.Test)-3:]))
	}
}

func TestShares(t *testing.T) {
	def := DefaultFractions()
	cases := []struct {
		n                int
		f                Fractions
		train, val, test int
	}{
		{0, def, 0, 0, 0},
		{1, def, 1, 0, 0},
		{2, def, 1, 0, 1},
		{2, Fractions{Train: 0.8, Val: 0.2, Test: 0}, 1, 1, 0},
		{3, def, 1, 1, 1},
		{4, def, 2, 1, 1},
		{20, def, 14, 3, 3},
		{100, def, 70, 15, 15},
		{5, Fractions{Train: 0.1, Val: 0.45, Test: 0.45}, 1, 2, 2},
		{10, Fractions{Train: 0.9, Val: 0, Test: 0.1}, 9, 0, 1},
	}
	for _, tc := range cases {
		tr, va, te := split.Shares(tc.n, tc.f)
		if tr != tc.train || va != tc.val || te != tc.test {
			t.Errorf("split.Shares(%d, %+v) = %d/%d/%d, want %d/%d/%d", tc.n, tc.f, tr, va, te, tc.train, tc.val, tc.test)
		}
	}
	for _, f := range []Fractions{{Train: 0, Val: 1, Test: 1}, {Train: -1, Val: 1, Test: 1}, {Train: 1, Val: -0.1, Test: 0}} {
		if _, err := Split(fakeImages(map[string]int{"a": 3}), 1, f); !errors.Is(err, ErrBadFractions) {
			t.Errorf("fractions %+v: err %v", f, err)
		}
	}
}

func TestSplitWithTest(t *testing.T) {
	train := fakeImages(map[string]int{"ants": 40, "bees": 40})
	test := fakeImages(map[string]int{"ants": 5, "bees": 5}) // same made-up bytes as train's first five
	for i := range test {
		test[i].ID = "val/" + test[i].ID
	}
	s, err := SplitWithTest(train, test, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Overlap) != 10 || s.Overlap[0] != "ants/000.jpg" {
		t.Fatalf("overlap %v", s.Overlap)
	}
	sz := s.Sizes()
	if sz.Test != 10 || sz.Val != 10 || sz.Train != 60 { // 35 per label: 5 val, 30 train
		t.Fatalf("sizes %v", sz)
	}
	test[0].Label = "wasps"
	if _, err := SplitWithTest(train, test, 3, 0); !errors.Is(err, ErrUnknownLabel) {
		t.Fatalf("unknown label: %v", err)
	}
	if _, err := SplitWithTest(train, nil, 3, 1.5); !errors.Is(err, ErrBadFractions) {
		t.Fatalf("bad share: %v", err)
	}
}
