package evaluate

import (
	"math"
	"strings"
	"testing"
)

func TestImbalance(t *testing.T) {
	im := Imbalance([]string{"a", "b", "c"}, []int{40, 10, 25})
	if im.SmallestLabel != "b" || im.LargestLabel != "a" || im.MaxRatio != 4 || im.SmallestCount != 10 || im.LargestCount != 40 {
		t.Fatalf("Imbalance = %+v", im)
	}
	if im := Imbalance([]string{"a", "b"}, []int{0, 5}); im.MaxRatio != 0 {
		t.Fatalf("empty label: %+v", im)
	}
}

func sha(c byte) string { return strings.Repeat(string(c), 64) }

func TestDuplicates(t *testing.T) {
	files := []File{
		{Path: "sunflower/b.jpg", Label: "sunflower", SHA256: sha('1')},
		{Path: "sunflower/a.jpg", Label: "sunflower", SHA256: sha('1')},
		{Path: "rose/x.jpg", Label: "rose", SHA256: sha('2')},
		{Path: "tulip/x.jpg", Label: "tulip", SHA256: sha('2')},
		{Path: "rose/y.jpg", Label: "rose", SHA256: sha('3')},
	}
	same, cross := Duplicates(files)
	if len(same) != 1 || same[0].SHA256 != sha('1') || same[0].Paths[0] != "sunflower/a.jpg" || len(same[0].Labels) != 2 {
		t.Errorf("same = %+v", same)
	}
	if len(cross) != 1 || cross[0].Labels[0] != "rose" || cross[0].Labels[1] != "tulip" {
		t.Errorf("cross = %+v", cross)
	}
}

func unit(v ...float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x * x)
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(s))
	}
	return v
}

func TestNearDuplicates(t *testing.T) {
	files := []File{
		{Path: "a", Label: "x", SHA256: sha('a')},
		{Path: "b", Label: "x", SHA256: sha('b')},
		{Path: "c", Label: "y", SHA256: sha('c')},
		{Path: "d", Label: "y", SHA256: sha('a')}, // byte-identical to a
	}
	feats := [][]float32{unit(1, 0, 0), unit(0.99, 0.01, 0), unit(0, 1, 0), unit(1, 0, 0)}
	got, err := NearDuplicates(files, feats, 0.97, 0)
	if err != nil {
		t.Fatal(err)
	}
	// a~b and b~d; a=d is an exact duplicate, left out.
	if len(got) != 2 || got[0].Similarity < 0.99 {
		t.Fatalf("NearDuplicates = %+v", got)
	}
	for _, p := range got {
		if p.Paths[0] == "a" && p.Paths[1] == "d" {
			t.Error("exact duplicate listed as near duplicate")
		}
	}
	// More rows than one block.
	many := make([]File, 600)
	fs := make([][]float32, 600)
	for i := range many {
		many[i] = File{Path: string(rune('A' + i%26)), SHA256: sha(byte('0' + i%10))}
		fs[i] = unit(float32(i), 1, float32(i%7))
	}
	if _, err := NearDuplicates(many, fs, 0.999, 10); err != nil {
		t.Fatal(err)
	}
}

func TestSuspectedMislabels(t *testing.T) {
	truth := []int{0, 0, 1, 1}
	probs := [][]float32{
		{0.02, 0.98}, // labelled 0, looks like 1: suspected
		{0.9, 0.1},
		{0.5, 0.5},   // not strong enough
		{0.97, 0.03}, // labelled 1, looks like 0: suspected, less confident
	}
	files := []File{{Path: "cat/1.jpg", Split: "train"}, {Path: "cat/2.jpg"}, {Path: "dog/1.jpg"}, {ID: "img-9", Path: "dog/2.jpg", Split: "validation"}}
	got, err := SuspectedMislabels(truth, probs, []string{"cat", "dog"}, files, DefaultMislabelRule)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "cat/1.jpg" || got[0].Predicted != "dog" || got[1].ImageID != "img-9" || got[1].Split != "validation" {
		t.Fatalf("SuspectedMislabels = %+v", got)
	}
	got, _ = SuspectedMislabels(truth, probs, []string{"cat", "dog"}, files, MislabelRule{MaxLabelProb: 0.05, MinConfidence: 0.8, Limit: 1})
	if len(got) != 1 {
		t.Fatalf("limit: %d", len(got))
	}
}

// The general recipe concatenates two L2-normalised features (norm √2):
// NearDuplicates must compare cosines, not raw dot products.
func TestNearDuplicatesNormalisesRows(t *testing.T) {
	files := []File{{Path: "a", Label: "x", SHA256: "1"}, {Path: "b", Label: "x", SHA256: "2"}, {Path: "c", Label: "x", SHA256: "3"}}
	feats := [][]float32{
		{1, 0, 1, 0},
		{1, 0, 0, 1},       // cosine with a: 0.5
		{0.99, 0.14, 1, 0}, // cosine with a: ~0.995
	}
	got, err := NearDuplicates(files, feats, DefaultNearDuplicate, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Paths[0] != "a" || got[0].Paths[1] != "c" || got[0].Similarity > 1 || got[0].Similarity < 0.99 {
		t.Fatalf("got %+v, want only a~c at ~0.995", got)
	}
}
