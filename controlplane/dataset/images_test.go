package dataset_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/internal/testenv"
)

// AddImages keeps real photos, skips what is not one and what the label
// already has, and refuses a dataset still importing or a bad label.
func TestAddImages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	photos, _ := filepath.Glob(filepath.Join(testenv.Data(t, "datasets", "hymenoptera", "val", "ants"), "*.jpg"))
	if len(photos) < 2 {
		t.Fatalf("%d photos", len(photos))
	}
	var files []dataset.File
	for _, p := range photos[:2] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, dataset.File{Name: filepath.Base(p), Data: b})
	}
	files = append(files, dataset.File{Name: "notes.txt", Data: []byte("not a photo")})

	if _, _, err := dataset.AddImages(ctx, e.st, e.blobs, e.ds, "ants", files); !errors.Is(err, dataset.ErrImporting) {
		t.Errorf("importing dataset: %v, want ErrImporting", err)
	}
	if err := e.st.SetDatasetStatus(ctx, e.ds.ID, store.DatasetReady, "", nil); err != nil {
		t.Fatal(err)
	}
	e.ds.Status = store.DatasetReady
	if _, _, err := dataset.AddImages(ctx, e.st, e.blobs, e.ds, "ants/../x", files); !errors.Is(err, dataset.ErrBadLabel) {
		t.Errorf("bad label: %v, want ErrBadLabel", err)
	}
	added, skipped, err := dataset.AddImages(ctx, e.st, e.blobs, e.ds, "工蚁", files)
	if err != nil || len(added) != 2 || len(skipped) != 1 || skipped[0].Path != "notes.txt" || skipped[0].Reason == "" {
		t.Fatalf("add: %d added, skipped %+v, %v", len(added), skipped, err)
	}
	// A photo the label has is already_present, by name; a second copy in
	// one upload is a duplicate.
	again := []dataset.File{files[0], {Name: "copy.jpg", Data: files[0].Data}}
	added, skipped, err = dataset.AddImages(ctx, e.st, e.blobs, e.ds, "工蚁", again)
	if err != nil || len(added) != 0 || len(skipped) != 2 ||
		skipped[0].Path != "copy.jpg" || skipped[0].Reason != "duplicate" ||
		skipped[1].Path != files[0].Name || skipped[1].Reason != "already_present" {
		t.Errorf("again: %d added, skipped %+v, %v", len(added), skipped, err)
	}
	if _, _, err := dataset.AddImages(ctx, e.st, e.blobs, e.ds, strings.Repeat("蚁", 100), files); !errors.Is(err, dataset.ErrBadLabel) {
		t.Errorf("300-byte label: %v, want ErrBadLabel", err)
	}
}
