package training_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/autocv/autocv/controlplane/training"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/trainer/dataset"
)

// fakeSHA is a sha256 hex as real photos have: uniformly spread bits.
func fakeSHA(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	return hex.EncodeToString(h[:])
}

func TestSplitStratifiedAndStable(t *testing.T) {
	var ims []training.Image
	for i := range 100 {
		ims = append(ims, training.Image{ID: fmt.Sprintf("a%d", i), SHA256: fakeSHA(i), Label: "a"})
	}
	for i := range 21 {
		ims = append(ims, training.Image{ID: fmt.Sprintf("b%d", i), SHA256: fakeSHA(1000 + i), Label: "b"})
	}
	count := func(out []jobs.Image) map[string]map[string]int {
		m := map[string]map[string]int{}
		for _, im := range out {
			if m[im.Label] == nil {
				m[im.Label] = map[string]int{}
			}
			m[im.Label][im.Split]++
		}
		return m
	}
	out := training.Split(ims, 42)
	c := count(out)
	if c["a"][jobs.SplitTest] != 15 || c["a"][jobs.SplitValidation] != 15 || c["a"][jobs.SplitTrain] != 70 {
		t.Errorf("label a split %v, want 70/15/15", c["a"])
	}
	if c["b"][jobs.SplitTest] != 3 || c["b"][jobs.SplitValidation] != 3 || c["b"][jobs.SplitTrain] != 15 {
		t.Errorf("label b split %v, want 15/3/3", c["b"])
	}
	// Same seed → same split; adding photos moves few of the old ones.
	before := map[string]string{}
	for _, im := range out {
		before[im.ID] = im.Split
	}
	more := append(ims[:len(ims):len(ims)], training.Image{ID: "a-new", SHA256: fakeSHA(5000), Label: "a"})
	moved := 0
	for _, im := range training.Split(more, 42) {
		if s, ok := before[im.ID]; ok && s != im.Split {
			moved++
		}
	}
	if moved > 2 {
		t.Errorf("adding one photo moved %d others between splits", moved)
	}
	// Another seed splits differently.
	diff := 0
	for _, im := range training.Split(ims, 43) {
		if before[im.ID] != im.Split {
			diff++
		}
	}
	if diff == 0 {
		t.Error("seed does not change the split")
	}
}

// The control plane and autocv-trainer split the same photos with the same
// seed the same way: both apply protocol/split.
func TestSplitMatchesTrainer(t *testing.T) {
	ds, err := dataset.Scan(testenv.Data(t, "datasets", "hymenoptera", "train"))
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []uint64{1, training.SeedFor("mdl_x", "cloud-general")} {
		ours := make([]training.Image, len(ds.Images))
		for i, im := range ds.Images {
			// the server's ids are its own; only the bytes and label matter
			ours[i] = training.Image{ID: "img_" + im.SHA256[:12], SHA256: im.SHA256, Label: im.Label}
		}
		theirs, err := dataset.Split(ds.Images, seed, dataset.DefaultFractions())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for name, part := range map[string][]dataset.Image{"train": theirs.Train, "validation": theirs.Val, "test": theirs.Test} {
			for _, im := range part {
				want[im.SHA256] = name
			}
		}
		differ := 0
		for _, im := range training.Split(ours, seed) {
			if want[im.SHA256] != im.Split {
				differ++
			}
		}
		if differ > 0 || len(want) != len(ours) {
			t.Errorf("seed %d: %d of %d photos in another split than autocv-trainer's", seed, differ, len(ours))
		}
	}
}
