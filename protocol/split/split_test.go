package split

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func items(n int, label string) []Item {
	out := make([]Item, n)
	for i := range out {
		h := sha256.Sum256([]byte(label + fmt.Sprint(i)))
		out[i] = Item{ID: fmt.Sprintf("%s/%d.jpg", label, i), Label: label, SHA256: hex.EncodeToString(h[:])}
	}
	return out
}

// The split of an image depends on the seed and its bytes, not on the
// order images are given in; each label gets its 70/15/15.
func TestAssignIgnoresOrder(t *testing.T) {
	all := append(items(40, "ants"), items(21, "bees")...)
	first, err := Assign(all, 7, Fractions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	count := map[string]int{}
	for i, it := range all {
		want[it.ID] = first[i]
		count[it.Label+" "+first[i]]++
	}
	if count["ants train"] != 28 || count["ants test"] != 6 || count["bees test"] != 3 || count["bees validation"] != 3 {
		t.Errorf("counts %v, want 28/6/6 and 15/3/3", count)
	}
	shuffled := append([]Item(nil), all...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, err := Assign(shuffled, 7, Default())
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range shuffled {
		if again[i] != want[it.ID] {
			t.Fatalf("%s: %s shuffled, %s in order", it.ID, again[i], want[it.ID])
		}
	}
	other, _ := Assign(all, 8, Default())
	moved := 0
	for i := range all {
		if other[i] != first[i] {
			moved++
		}
	}
	if moved == 0 {
		t.Error("another seed gives the same split")
	}
}

func TestAssignRefusesBadFractions(t *testing.T) {
	for _, f := range []Fractions{{Train: 0, Val: 1}, {Train: -1, Val: 1, Test: 1}, {Train: 1, Val: -0.1}} {
		if _, err := Assign(items(3, "a"), 1, f); !errors.Is(err, ErrBadFractions) {
			t.Errorf("%+v: %v", f, err)
		}
	}
}
