package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store"
)

func TestDatasetsAndImages(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		d := &store.Dataset{OwnerID: "usr_a", Name: "花卉"}
		must(t, s.CreateDataset(ctx, d))
		if d.Status != store.DatasetProcessing || d.Revision != 0 || d.ID == "" {
			t.Fatalf("CreateDataset = %+v", d)
		}
		if err := s.CreateDataset(ctx, &store.Dataset{OwnerID: "usr_a", Name: ""}); err == nil {
			t.Fatal("empty dataset name accepted")
		}
		if err := s.CreateDataset(ctx, &store.Dataset{OwnerID: "usr_a", Name: "x", Status: "half"}); err == nil {
			t.Fatal("unknown status accepted")
		}

		// 25 images: labels 玫瑰 (12), daisy (8), tulip (5), inserted out of order.
		var ims []store.Image
		for i := 0; i < 25; i++ {
			l := []string{"玫瑰", "daisy", "tulip", "玫瑰", "daisy"}[i%5]
			ims = append(ims, store.Image{Label: l, SHA256: sum(fmt.Sprint(i)), Size: int64(100 + i), Width: 50, Height: 40, Source: fmt.Sprintf("%s/%d.jpg", l, i)})
		}
		added, err := s.AddImages(ctx, d.ID, ims)
		must(t, err)
		if len(added) != 25 || added[0].ID == "" || added[0].DatasetID != d.ID {
			t.Fatalf("AddImages added %d, first %+v", len(added), added[0])
		}
		got, _ := s.Dataset(ctx, d.ID)
		if got.Revision != 1 {
			t.Fatalf("revision %d after one AddImages, want 1", got.Revision)
		}

		// A second batch: 3 duplicates of live images (same label+sha),
		// one repeat inside the batch, one same sha under another label.
		dup := []store.Image{
			ims[0], ims[1], ims[2],
			{Label: "tulip", SHA256: sum("new"), Source: "tulip/new.jpg"},
			{Label: "tulip", SHA256: sum("new"), Source: "tulip/new-again.jpg"},
			{Label: "daisy", SHA256: ims[0].SHA256, Source: "daisy/same-bytes.jpg"},
		}
		added2, err := s.AddImages(ctx, d.ID, dup)
		must(t, err)
		if len(added2) != 2 || added2[0].Source != "tulip/new.jpg" || added2[1].Source != "daisy/same-bytes.jpg" {
			t.Fatalf("dedupe added %+v", added2)
		}
		got, _ = s.Dataset(ctx, d.ID)
		if got.Revision != 2 {
			t.Fatalf("revision %d, want 2", got.Revision)
		}
		// Nothing new: no new revision.
		none, err := s.AddImages(ctx, d.ID, ims[:5])
		must(t, err)
		got, _ = s.Dataset(ctx, d.ID)
		if len(none) != 0 || got.Revision != 2 {
			t.Fatalf("all-duplicate batch added %d, revision %d", len(none), got.Revision)
		}
		if _, err := s.AddImages(ctx, d.ID, []store.Image{{Label: "x", SHA256: "XYZ"}}); err == nil {
			t.Fatal("bad sha256 accepted")
		}
		_, err = s.AddImages(ctx, "ds_nope", ims[:1])
		wantErr(t, err, store.ErrNotFound)

		labels, err := s.Labels(ctx, d.ID)
		must(t, err)
		want := []store.LabelCount{{Name: "daisy", Count: 11}, {Name: "tulip", Count: 6}, {Name: "玫瑰", Count: 10}}
		if fmt.Sprint(labels) != fmt.Sprint(want) {
			t.Fatalf("Labels = %v, want %v", labels, want)
		}

		// Pagination over all labels: ordered by (label, created, id), no
		// row twice, totals right.
		seen := map[string]bool{}
		var order []string
		for off := 0; off < 40; off += 10 {
			page, total, err := s.Images(ctx, d.ID, "", store.Page{Offset: off, Limit: 10})
			must(t, err)
			if total != 27 {
				t.Fatalf("total %d, want 27", total)
			}
			for _, im := range page {
				if seen[im.ID] {
					t.Fatalf("image %s on two pages", im.ID)
				}
				seen[im.ID] = true
				order = append(order, im.Label)
			}
		}
		if len(seen) != 27 || order[0] != "daisy" || order[26] != "玫瑰" {
			t.Fatalf("paged %d images, order %v", len(seen), order)
		}
		tulips, total, err := s.Images(ctx, d.ID, "tulip", store.Page{Limit: 4})
		must(t, err)
		if total != 6 || len(tulips) != 4 {
			t.Fatalf("tulip page: %d of %d", len(tulips), total)
		}

		// DeleteImage keeps the row, bumps the revision, and frees the
		// (label, sha256) for a new upload.
		victim := added[2] // tulip
		must(t, s.DeleteImage(ctx, d.ID, victim.ID))
		wantErr(t, s.DeleteImage(ctx, d.ID, victim.ID), store.ErrNotFound)
		wantErr(t, s.DeleteImage(ctx, "ds_other", added[3].ID), store.ErrNotFound)
		im, err := s.Image(ctx, victim.ID)
		must(t, err)
		if !im.Deleted || im.SHA256 != victim.SHA256 {
			t.Fatalf("deleted image row = %+v", im)
		}
		got, _ = s.Dataset(ctx, d.ID)
		if got.Revision != 3 {
			t.Fatalf("revision %d after delete, want 3", got.Revision)
		}
		_, total, _ = s.Images(ctx, d.ID, "tulip", store.Page{})
		if total != 5 {
			t.Fatalf("%d live tulips, want 5", total)
		}
		again, err := s.AddImages(ctx, d.ID, []store.Image{victim})
		must(t, err)
		if len(again) != 1 || again[0].ID == victim.ID {
			t.Fatalf("re-adding a deleted image: %+v", again)
		}

		// Rename, status, report; listing by owner with totals.
		must(t, s.RenameDataset(ctx, d.ID, "flowers"))
		wantErr(t, s.RenameDataset(ctx, "ds_nope", "x"), store.ErrNotFound)
		report := json.RawMessage(`{"accepted":{"daisy":11},"skipped":[{"path":"a.gif","reason":"bad format"}]}`)
		must(t, s.SetDatasetStatus(ctx, d.ID, store.DatasetReady, "", report))
		must(t, s.SetDatasetStatus(ctx, d.ID, store.DatasetProcessing, "", nil)) // keeps the report
		if err := s.SetDatasetStatus(ctx, d.ID, store.DatasetReady, "", json.RawMessage(`{`)); err == nil {
			t.Fatal("broken report JSON accepted")
		}
		got, _ = s.Dataset(ctx, d.ID)
		if got.Name != "flowers" || got.Status != store.DatasetProcessing || string(got.Report) != string(report) {
			t.Fatalf("dataset = %+v", got)
		}
		for i := 0; i < 3; i++ {
			e.clock.Advance(time.Second)
			must(t, s.CreateDataset(ctx, &store.Dataset{OwnerID: "usr_b", Name: fmt.Sprint("b", i)}))
		}
		bs, total, err := s.Datasets(ctx, "usr_b", store.Page{Limit: 2})
		must(t, err)
		if total != 3 || len(bs) != 2 || bs[0].Name != "b2" {
			t.Fatalf("Datasets(usr_b) = %d of %d, first %q (newest first)", len(bs), total, bs[0].Name)
		}
		_, total, _ = s.Datasets(ctx, "", store.Page{})
		if total != 4 {
			t.Fatalf("all datasets: %d, want 4", total)
		}

		// Imports survive until deleted; DeleteDataset takes them along.
		imp := &store.Import{DatasetID: d.ID, Kind: "zip", Path: "/data/uploads/x.zip"}
		must(t, s.CreateImport(ctx, imp))
		e.clock.Advance(time.Millisecond) // "oldest first" needs distinct times
		must(t, s.CreateImport(ctx, &store.Import{DatasetID: d.ID, Kind: "images", Path: "/data/uploads/y", Label: "daisy"}))
		wantErr(t, s.CreateImport(ctx, &store.Import{DatasetID: "ds_nope", Kind: "zip", Path: "p"}), store.ErrNotFound)
		if err := s.CreateImport(ctx, &store.Import{DatasetID: d.ID, Kind: "rar", Path: "p"}); err == nil {
			t.Fatal("import kind rar accepted")
		}
		imps, err := s.Imports(ctx)
		must(t, err)
		if len(imps) != 2 || imps[0].ID != imp.ID {
			t.Fatalf("Imports = %+v", imps)
		}
		must(t, s.DeleteImport(ctx, imp.ID))
		wantErr(t, s.DeleteImport(ctx, imp.ID), store.ErrNotFound)

		must(t, s.DeleteDataset(ctx, d.ID))
		_, err = s.Dataset(ctx, d.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.Image(ctx, added[0].ID)
		wantErr(t, err, store.ErrNotFound)
		if imps, _ := s.Imports(ctx); len(imps) != 0 {
			t.Fatalf("imports left after DeleteDataset: %+v", imps)
		}
		wantErr(t, s.DeleteDataset(ctx, d.ID), store.ErrNotFound)
	})
}

func TestDeleteDatasetWhileJobUsesIt(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		d, ims := addDataset(t, s, "used", 3, "a", "b")
		other, _ := addDataset(t, s, "unused", 3, "a", "b")
		m := addModel(t, s)
		vs := queue(t, s, m, jobFor(ims, "a", "b"))

		wantErr(t, s.DeleteDataset(ctx, d.ID), store.ErrConflict)
		must(t, s.DeleteDataset(ctx, other.ID))

		// Still refused while leased; allowed once the job ended.
		j, err := s.Lease(ctx, "w1", time.Minute, 3)
		must(t, err)
		wantErr(t, s.DeleteDataset(ctx, d.ID), store.ErrConflict)
		must(t, s.FailJob(ctx, j.ID, j.LeaseID, "out of memory"))
		must(t, s.DeleteDataset(ctx, d.ID))

		// The version and its frozen spec outlive the dataset.
		v, err := s.Version(ctx, m.ID, vs[0].Number)
		must(t, err)
		job, err := s.Job(ctx, v.JobID)
		must(t, err)
		if v.Status != store.VersionFailed || len(job.Spec.Images) != 6 {
			t.Fatalf("after delete: version %+v, %d job images", v, len(job.Spec.Images))
		}
	})
}
