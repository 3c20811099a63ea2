package store_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store"
)

// Label edits change live rows only: a job frozen before keeps its images
// (rows and spec), and each edit is one revision.
func TestLabelRenameMergeDeleteMove(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		d, ims := addDataset(t, s, "虫子", 3, "ants", "bees", "wasps")
		// bees gets a copy of one of the ants (same bytes)
		dup, err := s.AddImages(ctx, d.ID, []store.Image{{Label: "bees", SHA256: ims[0].SHA256, Size: 1, Source: "bees/copy.jpg"}})
		must(t, err)
		m := addModel(t, s)
		v := queue(t, s, m, jobFor(ims, "ants", "bees", "wasps"))[0]
		rev := func() int { x, _ := s.Dataset(ctx, d.ID); return x.Revision }
		counts := func() map[string]int {
			ls, err := s.Labels(ctx, d.ID)
			must(t, err)
			out := map[string]int{}
			for _, l := range ls {
				out[l.Name] = l.Count
			}
			return out
		}
		r0 := rev()

		// rename to a new name: ids stay, one revision
		moved, dropped, err := s.RenameLabel(ctx, d.ID, "wasps", "胡蜂", false)
		must(t, err)
		if moved != 3 || dropped != 0 || rev() != r0+1 || counts()["胡蜂"] != 3 || counts()["wasps"] != 0 {
			t.Fatalf("rename: moved %d dropped %d rev %d counts %v", moved, dropped, rev(), counts())
		}
		if im, _ := s.Image(ctx, ims[6].ID); im.Label != "胡蜂" {
			t.Fatalf("renamed image %+v", im)
		}
		// onto an existing label: conflict unless merge; merge drops the copy
		_, _, err = s.RenameLabel(ctx, d.ID, "bees", "ants", false)
		wantErr(t, err, store.ErrConflict)
		moved, dropped, err = s.RenameLabel(ctx, d.ID, "bees", "ants", true)
		must(t, err)
		if moved != 3 || dropped != 1 || counts()["ants"] != 6 || counts()["bees"] != 0 {
			t.Fatalf("merge: moved %d dropped %d counts %v", moved, dropped, counts())
		}
		if im, _ := s.Image(ctx, dup[0].ID); !im.Deleted {
			t.Fatalf("the duplicate stayed live: %+v", im)
		}
		_, _, err = s.RenameLabel(ctx, d.ID, "nope", "x", false)
		wantErr(t, err, store.ErrNotFound)

		// move one image; onto a label with the same photo is a conflict
		im, err := s.MoveImage(ctx, d.ID, ims[0].ID, "胡蜂")
		must(t, err)
		if im.Label != "胡蜂" || counts()["胡蜂"] != 4 {
			t.Fatalf("move: %+v %v", im, counts())
		}
		twin, err := s.AddImages(ctx, d.ID, []store.Image{{Label: "ants", SHA256: ims[0].SHA256, Size: 1, Source: "ants/again.jpg"}})
		must(t, err)
		_, err = s.MoveImage(ctx, d.ID, twin[0].ID, "胡蜂")
		wantErr(t, err, store.ErrConflict)
		_, err = s.MoveImage(ctx, d.ID, "img_nope", "ants")
		wantErr(t, err, store.ErrNotFound)

		// delete a label: its rows stay (deleted) for the frozen job
		n, err := s.DeleteLabel(ctx, d.ID, "胡蜂")
		must(t, err)
		if n != 4 || counts()["胡蜂"] != 0 {
			t.Fatalf("delete label: %d, counts %v", n, counts())
		}
		_, err = s.DeleteLabel(ctx, d.ID, "胡蜂")
		wantErr(t, err, store.ErrNotFound)

		// the job queued before all this still has its images and labels
		j, err := s.Job(ctx, v.JobID)
		must(t, err)
		if len(j.Spec.Images) != len(ims) || j.Spec.Images[6].Label != "wasps" {
			t.Fatalf("frozen spec changed: %d images, [6] %+v", len(j.Spec.Images), j.Spec.Images[6])
		}
		// and the dataset cannot be deleted under it
		wantErr(t, s.DeleteDataset(ctx, d.ID), store.ErrConflict)
	})
}

// Usage minutes add up across writers (replicas), read back in order,
// and are pruned by age and with their service.
func TestServiceUsage(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
		a := store.ServiceMinute{ServiceID: "svc_a", Start: t0, Calls: 10, Client: 2, Busy: 1}
		a.Hist[0], a.Hist[3] = 7, 3
		b := a // a second replica, same minute
		b.Server, b.Hist[11] = 1, 2
		later := store.ServiceMinute{ServiceID: "svc_a", Start: t0.Add(2*time.Minute + 30*time.Second), Calls: 1}
		must(t, s.AddUsage(ctx, []store.ServiceMinute{a, later}))
		must(t, s.AddUsage(ctx, []store.ServiceMinute{b, {ServiceID: "svc_b", Start: t0, Calls: 5}}))
		got, err := s.Usage(ctx, "svc_a", t0)
		must(t, err)
		if len(got) != 2 || !got[0].Start.Equal(t0) || got[0].Calls != 20 || got[0].Client != 4 || got[0].Server != 1 ||
			got[0].Busy != 2 || got[0].Hist[0] != 14 || got[0].Hist[3] != 6 || got[0].Hist[11] != 2 {
			t.Fatalf("summed minute: %+v", got)
		}
		if !got[1].Start.Equal(t0.Add(2*time.Minute)) || got[1].Calls != 1 {
			t.Fatalf("second minute (truncated to its start): %+v", got[1])
		}
		if got, _ := s.Usage(ctx, "svc_a", t0.Add(time.Minute)); len(got) != 1 {
			t.Fatalf("since: %+v", got)
		}
		if err := s.AddUsage(ctx, []store.ServiceMinute{{ServiceID: "svc_a", Start: t0, Calls: -1}}); err == nil {
			t.Fatal("negative count accepted")
		}
		n, err := s.PruneUsage(ctx, t0.Add(time.Minute))
		must(t, err)
		if n != 2 { // svc_a and svc_b at t0
			t.Fatalf("pruned %d, want 2", n)
		}
	})
}

// Notes (其他要求) are kept on services and on SDK requests; a status
// update of a build keeps the request's notes.
// Replicas flushing the same minutes at once, listed in opposite orders,
// neither deadlock (PostgreSQL row locks) nor lose a call.
func TestServiceUsageConcurrentFlushes(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
		var rows []store.ServiceMinute
		for i := range 60 {
			rows = append(rows, store.ServiceMinute{ServiceID: fmt.Sprintf("svc_%d", i%6), Start: t0.Add(time.Duration(i/6) * time.Minute), Calls: 1})
		}
		reversed := slices.Clone(rows)
		slices.Reverse(reversed)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for k := range 20 {
			wg.Go(func() {
				batch := rows
				if k%2 == 1 {
					batch = reversed
				}
				errs <- e.S.AddUsage(ctx, batch)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		got, err := e.S.Usage(ctx, "svc_0", t0)
		must(t, err)
		if len(got) != 10 || got[0].Calls != 20 || got[9].Calls != 20 {
			t.Fatalf("svc_0 after 20 flushes: %+v", got)
		}
	})
}

func TestServiceAndSDKNotes(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, vs := jobsQueued(t, e, 1)
		svc := &store.Service{OwnerID: "usr_a", Name: "n", Path: "notes", ModelID: m.ID, Version: vs[0].Number, Notes: "每天 9 点前可用"}
		must(t, s.CreateService(ctx, svc))
		got, err := s.Service(ctx, svc.ID)
		must(t, err)
		if got.Notes != "每天 9 点前可用" {
			t.Fatalf("service notes %q", got.Notes)
		}
		long := &store.Service{OwnerID: "usr_a", Name: "n", Path: "long", ModelID: m.ID, Version: vs[0].Number, Notes: strings.Repeat("字", store.MaxNotes+1)}
		if err := s.CreateService(ctx, long); err == nil {
			t.Fatal("notes over the limit accepted")
		}
		must(t, s.AddUsage(ctx, []store.ServiceMinute{{ServiceID: svc.ID, Start: e.clock.Now(), Calls: 1}}))
		must(t, s.DeleteService(ctx, svc.ID))
		if u, _ := s.Usage(ctx, svc.ID, time.Time{}); len(u) != 0 {
			t.Fatalf("usage outlived its service: %+v", u)
		}

		r := &store.SDKRequest{ModelID: m.ID, Version: vs[0].Number, Platform: "linux-amd64", Status: store.SDKBuilding, Notes: "带上 README"}
		must(t, s.PutSDK(ctx, r))
		must(t, s.PutSDK(ctx, &store.SDKRequest{ModelID: m.ID, Version: vs[0].Number, Platform: "linux-amd64", Status: store.SDKFailed, Error: "x"}))
		got2, err := s.SDK(ctx, m.ID, vs[0].Number, "linux-amd64")
		must(t, err)
		if got2.Notes != "带上 README" || got2.Status != store.SDKFailed {
			t.Fatalf("SDK after a status update: %+v", got2)
		}
	})
}

// Notes are counted in characters, not bytes, and hold text only.
func TestValidNotes(t *testing.T) {
	for _, tc := range []struct {
		notes string
		ok    bool
	}{
		{"", true},
		{strings.Repeat("字", store.MaxNotes), true}, // 6000 bytes
		{strings.Repeat("字", store.MaxNotes+1), false},
		{"第一行\n第二行\r\n\t缩进", true},
		{"nul\x00inside", false},
		{"bell\a", false},
		{"\xff\xfe", false},
	} {
		if got := store.ValidNotes(tc.notes); got != tc.ok {
			t.Errorf("ValidNotes(%q…) = %v, want %v", tc.notes[:min(len(tc.notes), 12)], got, tc.ok)
		}
	}
}
