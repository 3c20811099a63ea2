package dataset_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/internal/testenv"
)

// env is a real SQLite store and blob folder with one user and dataset.
type env struct {
	st    store.Store
	blobs blob.Store
	dir   string
	ds    *store.Dataset
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Username: "alice", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	d := &store.Dataset{OwnerID: u.ID, Name: "insects", Status: store.DatasetProcessing}
	if err := st.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	return &env{st: st, blobs: blobs, dir: dir, ds: d}
}

// zipOf writes a zip of n real photos per label folder of hymenoptera/val,
// plus a GIF the import must skip.
func (e *env) zipOf(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(e.dir, "upload.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(f)
	for _, label := range []string{"ants", "bees"} {
		files, _ := filepath.Glob(filepath.Join(testenv.Data(t, "datasets", "hymenoptera", "val", label), "*.jpg"))
		if len(files) < n {
			t.Fatalf("%d photos of %s", len(files), label)
		}
		for _, p := range files[:n] {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			zw, _ := w.Create(label + "/" + filepath.Base(p))
			_, _ = zw.Write(b)
		}
	}
	zw, _ := w.Create("ants/anim.gif")
	_, _ = zw.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func (e *env) waitReady(t *testing.T) *store.Dataset {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d, err := e.st.Dataset(context.Background(), e.ds.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != store.DatasetProcessing {
			return d
		}
	}
	t.Fatal("import did not finish within a minute")
	return nil
}

// A recorded import left by a previous run is resumed by Start: the
// photos are stored, the GIF is skipped with its reason, the upload and
// the import record are gone, progress is cleared.
func TestQueueResumesAndImports(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	rec := &store.Import{DatasetID: e.ds.ID, Kind: "zip", Path: e.zipOf(t, 5)}
	if err := e.st.CreateImport(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var accepted, skipped int
	q := dataset.NewQueue(dataset.Config{Store: e.st, Blobs: e.blobs, Log: zaptest.NewLogger(t), DataDir: e.dir,
		MaxZipBytes: 1 << 30, Imported: func(a, s int) { accepted, skipped = a, s }})
	q.Start(ctx, 2)
	defer cancel()
	d := e.waitReady(t)
	// the record goes right after the status
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if recs, _ := e.st.Imports(context.Background()); len(recs) == 0 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	q.Wait()
	if d.Status != store.DatasetReady || d.Error != "" {
		t.Fatalf("dataset %s: %s", d.Status, d.Error)
	}
	var rep dataset.Report
	if err := json.Unmarshal(d.Report, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Accepted["ants"] != 5 || rep.Accepted["bees"] != 5 || rep.Added != 10 || len(rep.Skipped) != 1 ||
		rep.Skipped[0].Reason != "unsupported_format" || accepted != 10 || skipped != 1 {
		t.Errorf("report %+v (metrics %d/%d)", rep, accepted, skipped)
	}
	labels, err := e.st.Labels(context.Background(), d.ID)
	if err != nil || len(labels) != 2 || labels[0].Count != 5 {
		t.Errorf("labels %+v %v", labels, err)
	}
	if recs, _ := e.st.Imports(context.Background()); len(recs) != 0 {
		t.Errorf("import records left: %+v", recs)
	}
	if _, err := os.Stat(rec.Path); !os.IsNotExist(err) {
		t.Errorf("upload left behind: %v", err)
	}
	if p, ok := q.Progress(d.ID); ok {
		t.Errorf("progress %+v after the import", p)
	}
}

// A pending import whose upload vanished from this replica's data folder
// fails the dataset with a message saying to upload again.
func TestQueueFailsLostUpload(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &store.Import{DatasetID: e.ds.ID, Kind: "zip", Path: filepath.Join(e.dir, "gone.zip")}
	if err := e.st.CreateImport(ctx, rec); err != nil {
		t.Fatal(err)
	}
	q := dataset.NewQueue(dataset.Config{Store: e.st, Blobs: e.blobs, Log: zaptest.NewLogger(t), DataDir: e.dir})
	q.Start(ctx, 1)
	d := e.waitReady(t)
	if d.Status != store.DatasetFailed || d.Error == "" {
		t.Errorf("dataset %s %q, want failed saying to upload again", d.Status, d.Error)
	}
	cancel()
	q.Wait()
}
