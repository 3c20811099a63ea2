package training_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/controlplane/training"
)

// Freeze applies the product's training rules on a real SQLite store: a
// photo filed under two labels is left out, a label under 20 images is
// named, a dataset still importing or someone else's is refused.
func TestFreeze(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Username: "alice", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	d := &store.Dataset{OwnerID: u.ID, Name: "insects", Status: store.DatasetProcessing}
	if err := st.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	var ims []store.Image
	add := func(label string, from, n int) {
		for i := from; i < from+n; i++ {
			ims = append(ims, store.Image{Label: label, SHA256: fakeSHA(i), Size: 1000, Width: 300, Height: 200, Source: label + ".jpg"})
		}
	}
	add("ants", 0, 22)   // 22 photos
	add("bees", 100, 21) // 21 photos …
	add("bees", 0, 2)    // … and 2 of the ants filed as bees too
	if _, err := st.AddImages(ctx, d.ID, ims); err != nil {
		t.Fatal(err)
	}
	mine := func(owner string) bool { return owner == u.ID }
	data := []training.Data{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}
	if _, _, err := training.Freeze(ctx, st, mine, data); !errors.Is(err, training.ErrNotReady) {
		t.Fatalf("dataset still importing: %v", err)
	}
	if err := st.SetDatasetStatus(ctx, d.ID, store.DatasetReady, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := training.Freeze(ctx, st, func(string) bool { return false }, data); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("someone else's dataset: %v", err)
	}
	// the 2 conflicting photos leave both labels: ants 20, bees 21
	got, labels, err := training.Freeze(ctx, st, mine, data)
	if err != nil || len(got) != 41 || strings.Join(labels, ",") != "ants,bees" {
		t.Fatalf("freeze: %d images, labels %v, %v", len(got), labels, err)
	}
	// two more ants filed as bees: ants 18 < 20
	ims = nil
	add("bees", 2, 2)
	if _, err := st.AddImages(ctx, d.ID, ims); err != nil {
		t.Fatal(err)
	}
	_, _, err = training.Freeze(ctx, st, mine, data)
	if !errors.Is(err, training.ErrTooFewImages) || !strings.Contains(err.Error(), "ants (18)") {
		t.Errorf("short label: %v, want ErrTooFewImages naming ants (18)", err)
	}
	for _, bad := range [][]training.Data{nil, {data[0], data[0]}, {{DatasetID: d.ID}}} {
		if _, _, err := training.Freeze(ctx, st, mine, bad); !errors.Is(err, training.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := training.Freeze(ctx, st, mine, []training.Data{{DatasetID: d.ID, Labels: []string{"wasps"}}}); !errors.Is(err, training.ErrUnknownLabel) {
		t.Errorf("unknown label: %v", err)
	}
	if _, _, err := training.Freeze(ctx, st, mine, []training.Data{{DatasetID: d.ID, Labels: []string{"ants"}}}); !errors.Is(err, training.ErrTooFewLabels) {
		t.Errorf("one label: %v", err)
	}
}
