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

// A ready dataset with no images (its labels all deleted) is refused as
// too few images, naming the dataset.
func TestFreezeRefusesEmptyDataset(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := &store.Dataset{OwnerID: "usr_a", Name: "空的", Status: store.DatasetReady}
	if err := st.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	_, _, err = training.Freeze(ctx, st, func(string) bool { return true }, []training.Data{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}})
	if !errors.Is(err, training.ErrTooFewImages) || !strings.Contains(err.Error(), "空的") {
		t.Fatalf("empty dataset: %v, want ErrTooFewImages naming it", err)
	}
}
