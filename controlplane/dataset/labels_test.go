package dataset_test

import (
	"archive/zip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/store"
)

// A zip with images but no label folders imports nothing, and ends failed
// with a reason that says how to pack it, not ready with 0 images.
func TestImportWithoutLabelFoldersFails(t *testing.T) {
	e := newEnv(t)
	q := e.startQueue(t, e.st)
	// images at the zip's top level: no folder names a label
	path := filepath.Join(e.dir, "flat.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, p := range realPhotos(t, "val", "ants", 0, 3) {
		w, err := zw.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, rep := e.importZip(t, q, path)
	if d.Status != store.DatasetFailed || !strings.Contains(d.Error, "ants/1.jpg") || !strings.Contains(d.Error, "每个分类一个文件夹") {
		t.Fatalf("dataset %s: %q", d.Status, d.Error)
	}
	if rep.Added != 0 {
		t.Errorf("report added %d", rep.Added)
	}
}

// Label edits keep to the label rule and wait for an import to end.
func TestLabelEditsRefuse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d, err := e.st.Dataset(ctx, e.ds.ID) // processing
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dataset.RenameLabel(ctx, e.st, d, "ants", "a b", false); !errors.Is(err, dataset.ErrBadLabel) {
		t.Errorf("a name with a space: %v", err)
	}
	if _, _, err := dataset.RenameLabel(ctx, e.st, d, "ants", "蚂蚁", false); !errors.Is(err, dataset.ErrImporting) {
		t.Errorf("rename while importing: %v", err)
	}
	if _, err := dataset.DeleteLabel(ctx, e.st, d, "ants"); !errors.Is(err, dataset.ErrImporting) {
		t.Errorf("delete while importing: %v", err)
	}
	if _, err := dataset.MoveImage(ctx, e.st, d, "img_x", "ants"); !errors.Is(err, dataset.ErrImporting) {
		t.Errorf("move while importing: %v", err)
	}
	d.Status = store.DatasetReady
	if _, err := dataset.MoveImage(ctx, e.st, d, "img_x", "nope"); !errors.Is(err, dataset.ErrUnknownLabel) {
		t.Errorf("move to a label the dataset lacks: %v", err)
	}
}
