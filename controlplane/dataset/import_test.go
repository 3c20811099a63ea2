package dataset_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/imagerules"
)

// photo is one real photo for a test zip.
type photo struct {
	name string
	data []byte
}

// realPhotos returns n distinct hymenoptera photos of split/label that pass
// the rules, skipping the first skip of them.
func realPhotos(t *testing.T, split, label string, skip, n int) []photo {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.Data(t, "datasets", "hymenoptera", split, label), "*.jpg"))
	sort.Strings(files)
	seen := map[[32]byte]bool{}
	var out []photo
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if seen[sum] || !imagerules.CheckBytes(b).OK() {
			continue
		}
		seen[sum] = true
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, photo{filepath.Base(p), b})
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("only %d usable photos of %s/%s", len(out), split, label)
	return nil
}

// writeFolders writes a zip at name under the env's folder, one folder per
// key of folders.
func (e *env) writeFolders(t *testing.T, name string, folders map[string][]photo) string {
	t.Helper()
	path := filepath.Join(e.dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(f)
	keys := make([]string, 0, len(folders))
	for k := range folders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, p := range folders[k] {
			zw, err := w.Create(k + "/" + p.name)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = zw.Write(p.data)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// startQueue runs a queue over st until the test ends.
func (e *env) startQueue(t *testing.T, st store.Store) *dataset.Queue {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q := dataset.NewQueue(dataset.Config{Store: st, Blobs: e.blobs, Log: zaptest.NewLogger(t), DataDir: e.dir, MaxZipBytes: 1 << 30})
	q.Start(ctx, 1)
	t.Cleanup(func() { cancel(); q.Wait() })
	return q
}

// importZip imports the zip at path into the env's dataset, as the server
// does (dataset processing, import recorded, queued), waits for the
// import to end and returns the dataset and its report.
func (e *env) importZip(t *testing.T, q *dataset.Queue, path string) (*store.Dataset, dataset.Report) {
	t.Helper()
	ctx := context.Background()
	d, err := e.st.Dataset(ctx, e.ds.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDatasetStatus(ctx, d.ID, store.DatasetProcessing, "", d.Report); err != nil {
		t.Fatal(err)
	}
	rec := &store.Import{DatasetID: d.ID, Kind: "zip", Path: path}
	if err := e.st.CreateImport(ctx, rec); err != nil {
		t.Fatal(err)
	}
	q.Enqueue(*rec)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		recs, err := e.st.Imports(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("import did not finish within two minutes")
		}
	}
	d, err = e.st.Dataset(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var rep dataset.Report
	if err := json.Unmarshal(d.Report, &rep); err != nil {
		t.Fatalf("report %s: %v", d.Report, err)
	}
	return d, rep
}

func (e *env) labelCounts(t *testing.T) map[string]int {
	t.Helper()
	ls, err := e.st.Labels(context.Background(), e.ds.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, l := range ls {
		m[l.Name] = l.Count
	}
	return m
}

func (e *env) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	for _, err := range e.blobs.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// brief is the start of a message that may be long, for a failure's text.
func brief(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// reasonsOf counts a report's skips by reason.
func reasonsOf(rep dataset.Report) map[string]int {
	m := map[string]int{}
	for _, s := range rep.Skipped {
		m[s.Reason]++
	}
	return m
}

// A label folder with a 300-byte name is skipped with one short entry;
// ants and bees import, and the folder's photos leave no blobs behind.
// Appending the same zip again adds nothing, lists every photo as
// already present and counts accepted as what the labels got: nothing.
func TestImportSkipsBadLabelAndReportsAppendsTruly(t *testing.T) {
	e := newEnv(t)
	q := e.startQueue(t, e.st)
	long := strings.Repeat("蚁", 100) // 300 bytes
	folders := map[string][]photo{
		"ants": realPhotos(t, "val", "ants", 0, 22),
		"bees": realPhotos(t, "val", "bees", 0, 22),
		long:   realPhotos(t, "train", "ants", 0, 3),
	}

	d, rep := e.importZip(t, q, e.writeFolders(t, "first.zip", folders))
	if d.Status != store.DatasetReady || d.Error != "" {
		t.Fatalf("dataset %s: %q", d.Status, brief(d.Error))
	}
	if rep.Added != 44 || rep.Accepted["ants"] != 22 || rep.Accepted["bees"] != 22 || len(rep.Accepted) != 2 {
		t.Errorf("added %d, accepted %v, want 44 = ants 22 + bees 22", rep.Added, rep.Accepted)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Reason != "label_too_long" || rep.Skipped[0].Path != long+"/" ||
		len(rep.Skipped[0].Detail) > 200 || !strings.Contains(rep.Skipped[0].Detail, "3 files") {
		t.Errorf("skipped %+v, want the long folder once, briefly", rep.Skipped)
	}
	if got := e.labelCounts(t); len(got) != 2 || got["ants"] != 22 || got["bees"] != 22 {
		t.Errorf("labels in the store %v", got)
	}
	if n := e.blobCount(t); n != 44 {
		t.Errorf("%d blobs stored, want the 44 imported photos", n)
	}
	rev := d.Revision

	d, rep = e.importZip(t, q, e.writeFolders(t, "again.zip", folders))
	if d.Status != store.DatasetReady || d.Error != "" || d.Revision != rev {
		t.Fatalf("dataset %s %q revision %d (was %d)", d.Status, brief(d.Error), d.Revision, rev)
	}
	sum := 0
	for _, n := range rep.Accepted {
		sum += n
	}
	if rep.Added != 0 || sum != 0 {
		t.Errorf("re-append: added %d, accepted %v, want nothing", rep.Added, rep.Accepted)
	}
	present := map[string]bool{}
	for _, s := range rep.Skipped {
		if s.Reason == "already_present" {
			present[s.Path] = true
		}
	}
	for _, label := range []string{"ants", "bees"} {
		for _, p := range folders[label] {
			if !present[label+"/"+p.name] {
				t.Errorf("%s/%s is not listed as already present", label, p.name)
			}
		}
	}
	if r := reasonsOf(rep); len(rep.Skipped) != 45 || r["already_present"] != 44 || r["label_too_long"] != 1 {
		t.Errorf("re-append skipped %v, want 44 already_present and the long folder", r)
	}
	for _, l := range rep.Labels {
		if l.Count != 22 || !l.Trainable {
			t.Errorf("re-append label %+v, want its 22 images in the dataset", l)
		}
	}
	if got := e.labelCounts(t); got["ants"] != 22 || got["bees"] != 22 {
		t.Errorf("labels in the store %v", got)
	}
}

// A label's warnings in the report count what the dataset holds after the
// import, not what this zip brought.
func TestImportLabelWarningsUseTotals(t *testing.T) {
	e := newEnv(t)
	q := e.startQueue(t, e.st)
	_, rep := e.importZip(t, q, e.writeFolders(t, "first.zip", map[string][]photo{
		"ants": realPhotos(t, "val", "ants", 0, 12),
		"bees": realPhotos(t, "val", "bees", 0, 12),
	}))
	for _, l := range rep.Labels {
		if l.Count != 12 || l.Trainable || l.Warning == "" {
			t.Errorf("first import: label %+v, want 12 images, not trainable", l)
		}
	}
	d, rep := e.importZip(t, q, e.writeFolders(t, "more.zip", map[string][]photo{
		"ants": realPhotos(t, "val", "ants", 12, 12),
	}))
	if d.Status != store.DatasetReady || rep.Added != 12 || rep.Accepted["ants"] != 12 {
		t.Fatalf("append: %s %q added %d accepted %v", d.Status, brief(d.Error), rep.Added, rep.Accepted)
	}
	if len(rep.Labels) != 1 {
		t.Fatalf("labels %+v, want ants alone", rep.Labels)
	}
	ants := rep.Labels[0]
	if ants.Name != "ants" || ants.Count != 24 || !ants.Trainable || !strings.Contains(ants.Warning, "100") {
		t.Errorf("ants after the append: %+v, want 24 images, trainable, warned below 100", ants)
	}
}

// refusing is a real store that refuses to record the images of one label,
// with a long error, as a store refuses a name it cannot keep.
type refusing struct {
	store.Store
	label string
}

func (r refusing) AddImages(ctx context.Context, datasetID string, ims []store.Image) ([]store.Image, error) {
	for _, im := range ims {
		if im.Label == r.label {
			return nil, errors.New("store: label " + strings.Repeat("x", 10_000) + " refused")
		}
	}
	return r.Store.AddImages(ctx, datasetID, ims)
}

// A label the store refuses is skipped with a short detail; the others
// import.
func TestImportSkipsLabelTheStoreRefuses(t *testing.T) {
	e := newEnv(t)
	q := e.startQueue(t, refusing{Store: e.st, label: "bees"})
	d, rep := e.importZip(t, q, e.writeFolders(t, "z.zip", map[string][]photo{
		"ants": realPhotos(t, "val", "ants", 0, 5),
		"bees": realPhotos(t, "val", "bees", 0, 5),
	}))
	if d.Status != store.DatasetReady || d.Error != "" || rep.Added != 5 || rep.Accepted["ants"] != 5 || len(rep.Accepted) != 1 {
		t.Fatalf("dataset %s %q, added %d accepted %v", d.Status, brief(d.Error), rep.Added, rep.Accepted)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Reason != "label_refused" || rep.Skipped[0].Path != "bees/" ||
		len(rep.Skipped[0].Detail) > 512 || !strings.Contains(rep.Skipped[0].Detail, "5 images") {
		t.Errorf("skipped %+v", rep.Skipped)
	}
	if got := e.labelCounts(t); len(got) != 1 || got["ants"] != 5 {
		t.Errorf("labels in the store %v", got)
	}
}

// When the store takes nothing, the import fails with a short error and a
// report that says nothing was added.
func TestImportFailsShortWhenTheStoreTakesNothing(t *testing.T) {
	e := newEnv(t)
	q := e.startQueue(t, refusing{Store: e.st, label: "ants"})
	d, rep := e.importZip(t, q, e.writeFolders(t, "z.zip", map[string][]photo{"ants": realPhotos(t, "val", "ants", 0, 3)}))
	if d.Status != store.DatasetFailed || d.Error == "" || len(d.Error) > 512 {
		t.Fatalf("dataset %s, error of %d bytes", d.Status, len(d.Error))
	}
	if rep.Added != 0 || len(rep.Accepted) != 0 {
		t.Errorf("failed import reports added %d accepted %v", rep.Added, rep.Accepted)
	}
}
