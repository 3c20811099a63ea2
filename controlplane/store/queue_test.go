package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/jobs"
)

func TestVersionNumbering(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		_, ims := addDataset(t, s, "d", 2, "cat", "dog")
		m := addModel(t, s)
		spec := jobFor(ims, "cat", "dog")

		vs := []store.Version{{AppType: jobs.CloudGeneral, Metric: "f1"}, {AppType: jobs.OfflineHighPerformance, Metric: "top1"}}
		js := []jobs.Job{spec, spec}
		out, err := s.CreateVersions(ctx, m.ID, vs, js)
		must(t, err)
		if len(out) != 2 || out[0].Number != 1 || out[1].Number != 2 || out[1].AppType != jobs.OfflineHighPerformance {
			t.Fatalf("CreateVersions = %+v", out)
		}
		for i, v := range out {
			if v.Status != store.VersionQueued || v.JobID == "" || js[i].ID != v.JobID || js[i].Version != v.Number || js[i].ModelID != m.ID {
				t.Fatalf("version %d: %+v, job %+v", i, v, js[i])
			}
			if fmt.Sprint(v.Labels) != "[cat dog]" {
				t.Fatalf("labels %v", v.Labels)
			}
			job, err := s.Job(ctx, v.JobID)
			must(t, err)
			if job.State != store.JobQueued || job.Spec.ID != v.JobID || len(job.Spec.Images) != 4 || job.Spec.AppType != v.AppType {
				t.Fatalf("job %+v", job)
			}
			if err := job.Spec.Validate(); err != nil {
				t.Fatalf("stored spec does not validate: %v", err)
			}
		}

		// Bad input: mismatched lengths, unknown type, unknown model, a
		// spec that does not validate.
		for name, call := range map[string]func() error{
			"lengths": func() error { _, err := s.CreateVersions(ctx, m.ID, vs[:1], js); return err },
			"app type": func() error {
				_, err := s.CreateVersions(ctx, m.ID, []store.Version{{AppType: "cloud-fast", Metric: "f1"}}, js[:1])
				return err
			},
			"metric": func() error {
				_, err := s.CreateVersions(ctx, m.ID, []store.Version{{AppType: jobs.CloudGeneral, Metric: "auc"}}, js[:1])
				return err
			},
			"one label": func() error {
				bad := spec
				bad.Labels = []string{"cat"}
				_, err := s.CreateVersions(ctx, m.ID, vs[:1], []jobs.Job{bad})
				return err
			},
		} {
			if err := call(); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		_, err = s.CreateVersions(ctx, "m_nope", vs[:1], []jobs.Job{spec})
		wantErr(t, err, store.ErrNotFound)

		// Concurrent calls: numbers stay 1..N without gaps or repeats.
		const callers = 6
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.CreateVersions(ctx, m.ID, []store.Version{{AppType: jobs.CloudGeneral, Metric: "f1"}, {AppType: jobs.CloudHighAccuracy, Metric: "f1"}},
					[]jobs.Job{spec, spec})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		all, err := s.Versions(ctx, m.ID)
		must(t, err)
		if len(all) != 2+2*callers {
			t.Fatalf("%d versions, want %d", len(all), 2+2*callers)
		}
		for i, v := range all {
			if v.Number != i+1 {
				t.Fatalf("version numbers %v: gap or repeat at %d", numbers(all), i)
			}
		}
		_, err = s.Version(ctx, m.ID, 99)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.Versions(ctx, "m_nope")
		wantErr(t, err, store.ErrNotFound)
	})
}

func numbers(vs []store.Version) []int {
	var n []int
	for _, v := range vs {
		n = append(n, v.Number)
	}
	return n
}

// jobsQueued queues n single-version jobs on a fresh model, one clock
// millisecond apart so their order is defined.
func jobsQueued(t *testing.T, e *env, n int) (*store.Model, []store.Version) {
	t.Helper()
	_, ims := addDataset(t, e.S, "q", 1, "a", "b")
	m := addModel(t, e.S)
	var vs []store.Version
	for i := 0; i < n; i++ {
		vs = append(vs, queue(t, e.S, m, jobFor(ims, "a", "b"))...)
		e.clock.Advance(time.Millisecond)
	}
	return m, vs
}

func TestLeaseEachJobOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		_, vs := jobsQueued(t, e, 20)
		var (
			mu     sync.Mutex
			leases = map[string][]string{} // job → workers
			wg     sync.WaitGroup
		)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				worker := fmt.Sprint("w", w)
				for {
					j, err := e.S.Lease(ctx, worker, time.Minute, 3)
					if err != nil {
						t.Errorf("%s: Lease: %v", worker, err)
						return
					}
					if j == nil {
						return
					}
					mu.Lock()
					leases[j.ID] = append(leases[j.ID], worker)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(leases) != 20 {
			t.Fatalf("%d distinct jobs leased, want 20", len(leases))
		}
		for id, ws := range leases {
			if len(ws) != 1 {
				t.Errorf("job %s leased %d times: %v", id, len(ws), ws)
			}
		}
		for _, v := range vs {
			got, _ := e.S.Version(ctx, v.ModelID, v.Number)
			if got.Status != store.VersionTraining {
				t.Fatalf("version %d is %s after lease, want training", v.Number, got.Status)
			}
		}
	})
}

func TestLeaseOrderExpiryAndAttempts(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, vs := jobsQueued(t, e, 2)
		if _, err := s.Lease(ctx, "", time.Minute, 3); err == nil {
			t.Fatal("empty worker id accepted")
		}

		j1, err := s.Lease(ctx, "w1", time.Minute, 2)
		must(t, err)
		if j1 == nil || j1.Version != vs[0].Number || j1.Attempts != 1 || j1.WorkerID != "w1" || j1.LeaseID == "" {
			t.Fatalf("first lease = %+v, want the oldest job, attempt 1", j1)
		}
		if !j1.LeaseExpires.Equal(e.clock.Now().Add(time.Minute)) {
			t.Fatalf("expires %v, want now+1m", j1.LeaseExpires)
		}
		j2, err := s.Lease(ctx, "w2", time.Minute, 2)
		must(t, err)
		if j2 == nil || j2.ID == j1.ID {
			t.Fatalf("second lease = %+v", j2)
		}
		if j, err := s.Lease(ctx, "w3", time.Minute, 2); err != nil || j != nil {
			t.Fatalf("empty queue: %+v, %v", j, err)
		}

		// Heartbeats renew; the other job expires and goes to w3 as attempt 2.
		e.clock.Advance(40 * time.Second)
		exp, cancel, err := s.Heartbeat(ctx, j1.ID, j1.LeaseID, jobs.Progress{Stage: "features", Percent: 30, ETASeconds: 90}, time.Minute)
		must(t, err)
		if cancel || !exp.Equal(e.clock.Now().Add(time.Minute)) {
			t.Fatalf("heartbeat: %v, cancel %v", exp, cancel)
		}
		v1, _ := s.Version(ctx, m.ID, j1.Version)
		if v1.Progress.Stage != "features" || v1.Progress.Percent != 30 || v1.Status != store.VersionTraining {
			t.Fatalf("progress not stored: %+v", v1)
		}
		e.clock.Advance(30 * time.Second) // j2 expired, j1 still held
		if _, err := s.CheckLease(ctx, j1.ID, j1.LeaseID); err != nil {
			t.Fatalf("renewed lease: %v", err)
		}
		_, err = s.CheckLease(ctx, j2.ID, j2.LeaseID)
		wantErr(t, err, store.ErrLeaseLost)
		// Images by lease: the job's own, with its sha; another job's image
		// or a lost lease is refused.
		im0 := j1.Spec.Images[0]
		if sha, err := s.LeasedImage(ctx, j1.ID, j1.LeaseID, im0.ID); err != nil || sha != im0.SHA256 {
			t.Fatalf("LeasedImage = %q, %v; want %s", sha, err, im0.SHA256)
		}
		_, err = s.LeasedImage(ctx, j1.ID, j1.LeaseID, "img_not_in_the_job")
		wantErr(t, err, store.ErrNotFound)
		_, err = s.LeasedImage(ctx, j1.ID, "wrong-lease", im0.ID)
		wantErr(t, err, store.ErrLeaseLost)
		_, err = s.LeasedImage(ctx, j2.ID, j2.LeaseID, j2.Spec.Images[0].ID)
		wantErr(t, err, store.ErrLeaseLost)
		_, _, err = s.Heartbeat(ctx, j2.ID, j2.LeaseID, jobs.Progress{}, time.Minute)
		wantErr(t, err, store.ErrLeaseLost)

		j2b, err := s.Lease(ctx, "w3", time.Minute, 2)
		must(t, err)
		if j2b == nil || j2b.ID != j2.ID || j2b.Attempts != 2 || j2b.LeaseID == j2.LeaseID {
			t.Fatalf("re-lease = %+v, want job %s attempt 2 with a new lease", j2b, j2.ID)
		}
		// The old holder's calls fail now.
		wantErr(t, s.CompleteJob(ctx, j2.ID, j2.LeaseID, sum("p"), sum("r"), nil), store.ErrLeaseLost)
		wantErr(t, s.FailJob(ctx, j2.ID, j2.LeaseID, "x"), store.ErrLeaseLost)

		// It expires again: maxAttempts 2 used up, so it fails with its
		// version instead of being leased a third time.
		e.clock.Advance(2 * time.Minute)
		_, _, err = s.Heartbeat(ctx, j1.ID, j1.LeaseID, jobs.Progress{}, time.Minute)
		wantErr(t, err, store.ErrLeaseLost) // j1 expired too (attempt 1 of 2)
		got, err := s.Lease(ctx, "w4", time.Minute, 2)
		must(t, err)
		if got == nil || got.ID != j1.ID || got.Attempts != 2 {
			t.Fatalf("lease after both expired = %+v, want j1 again (attempt 2)", got)
		}
		if j, err := s.Lease(ctx, "w5", time.Minute, 2); err != nil || j != nil {
			t.Fatalf("lease with only a used-up job left = %+v, %v; want none", j, err)
		}
		failed, _ := s.Job(ctx, j2.ID)
		v2, _ := s.Version(ctx, m.ID, j2.Version)
		if failed.State != store.JobFailed || v2.Status != store.VersionFailed || !strings.Contains(v2.Error, "expired 2 times") {
			t.Fatalf("job %s after max attempts: %s, version %s %q", j2.ID, failed.State, v2.Status, v2.Error)
		}
	})
}

func TestCompleteAndFail(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, _ := jobsQueued(t, e, 2)
		a, _ := s.Lease(ctx, "w", time.Minute, 3)
		b, _ := s.Lease(ctx, "w", time.Minute, 3)

		if err := s.CompleteJob(ctx, a.ID, a.LeaseID, "short", sum("r"), nil); err == nil {
			t.Fatal("bad package sha accepted")
		}
		wantErr(t, s.CompleteJob(ctx, a.ID, "ls_wrong", sum("p"), sum("r"), nil), store.ErrLeaseLost)
		wantErr(t, s.CompleteJob(ctx, "job_nope", a.LeaseID, sum("p"), sum("r"), nil), store.ErrNotFound)
		metrics := map[string]float64{"accuracy": 0.93, "f1": 0.91}
		must(t, s.CompleteJob(ctx, a.ID, a.LeaseID, sum("p"), sum("r"), metrics))
		wantErr(t, s.CompleteJob(ctx, a.ID, a.LeaseID, sum("p"), sum("r"), metrics), store.ErrLeaseLost)
		va, _ := s.Version(ctx, m.ID, a.Version)
		if va.Status != store.VersionSucceeded || va.PackageSHA256 != sum("p") || va.ReportSHA256 != sum("r") || va.Metrics["f1"] != 0.91 {
			t.Fatalf("completed version = %+v", va)
		}
		ja, _ := s.Job(ctx, a.ID)
		if ja.State != store.JobDone {
			t.Fatalf("job state %s, want done", ja.State)
		}

		must(t, s.FailJob(ctx, b.ID, b.LeaseID, "labels a and b are identical images"))
		vb, _ := s.Version(ctx, m.ID, b.Version)
		jb, _ := s.Job(ctx, b.ID)
		if vb.Status != store.VersionFailed || vb.Error != "labels a and b are identical images" || jb.State != store.JobFailed {
			t.Fatalf("failed version = %+v, job %s", vb, jb.State)
		}
		wantErr(t, s.StopVersion(ctx, m.ID, b.Version), store.ErrConflict)
		wantErr(t, s.StopVersion(ctx, m.ID, 99), store.ErrNotFound)
	})
}

func TestStopVersion(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, vs := jobsQueued(t, e, 4)

		// Queued: stopped at once and never leased.
		must(t, s.StopVersion(ctx, m.ID, vs[0].Number))
		v, _ := s.Version(ctx, m.ID, vs[0].Number)
		if v.Status != store.VersionStopped {
			t.Fatalf("queued version after stop: %s", v.Status)
		}

		// Leased: flagged; the next heartbeat says cancel and ends it.
		a, _ := s.Lease(ctx, "w", time.Minute, 3)
		if a.Version != vs[1].Number {
			t.Fatalf("leased version %d, want %d (the stopped one must be skipped)", a.Version, vs[1].Number)
		}
		must(t, s.StopVersion(ctx, m.ID, a.Version))
		j, _ := s.Job(ctx, a.ID)
		if !j.CancelRequested || j.State != store.JobLeased {
			t.Fatalf("job after stop: %+v", j)
		}
		if v, _ = s.Version(ctx, m.ID, a.Version); v.Status != store.VersionStopping {
			t.Fatalf("leased version after stop: %s, want stopping until the trainer acknowledges", v.Status)
		}
		_, cancel, err := s.Heartbeat(ctx, a.ID, a.LeaseID, jobs.Progress{Stage: "train", Percent: 50}, time.Minute)
		must(t, err)
		if !cancel {
			t.Fatal("heartbeat did not answer cancel")
		}
		v, _ = s.Version(ctx, m.ID, a.Version)
		j, _ = s.Job(ctx, a.ID)
		if v.Status != store.VersionStopped || j.State != store.JobCancelled {
			t.Fatalf("after cancel heartbeat: version %s, job %s", v.Status, j.State)
		}
		_, _, err = s.Heartbeat(ctx, a.ID, a.LeaseID, jobs.Progress{}, time.Minute)
		wantErr(t, err, store.ErrLeaseLost)

		// Leased, stopped, then the worker vanished: when the lease
		// expires the job ends stopped instead of going back to the queue.
		b, _ := s.Lease(ctx, "w", time.Minute, 3)
		must(t, s.StopVersion(ctx, m.ID, b.Version))
		e.clock.Advance(2 * time.Minute)
		c, err := s.Lease(ctx, "w2", time.Minute, 3)
		must(t, err)
		if c == nil || c.ID == b.ID || c.Version != vs[3].Number {
			t.Fatalf("lease after expired cancelled job = %+v", c)
		}
		v, _ = s.Version(ctx, m.ID, b.Version)
		if v.Status != store.VersionStopped {
			t.Fatalf("expired cancelled version: %s, want stopped", v.Status)
		}

		// Stop asked, then the worker completes before heartbeating: stop wins.
		must(t, s.StopVersion(ctx, m.ID, c.Version))
		wantErr(t, s.CompleteJob(ctx, c.ID, c.LeaseID, sum("p"), sum("r"), nil), store.ErrLeaseLost)
		v, _ = s.Version(ctx, m.ID, c.Version)
		if v.Status != store.VersionStopped || v.PackageSHA256 != "" {
			t.Fatalf("completed-after-stop version: %+v", v)
		}
	})
}

// A stopped job whose trainer went away ends stopped when its lease runs
// out, without waiting for another trainer to lease; one still within its
// lease, or not stopped, is left alone.
func TestEndExpiredStops(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, _ := jobsQueued(t, e, 3)
		a, _ := s.Lease(ctx, "w", time.Minute, 3)
		b, _ := s.Lease(ctx, "w", 5*time.Minute, 3)
		c, _ := s.Lease(ctx, "w", time.Minute, 3)
		must(t, s.StopVersion(ctx, m.ID, a.Version))
		must(t, s.StopVersion(ctx, m.ID, b.Version))
		if n, err := s.EndExpiredStops(ctx); err != nil || n != 0 {
			t.Fatalf("before any lease ran out: %d, %v", n, err)
		}
		e.clock.Advance(2 * time.Minute)
		if n, err := s.EndExpiredStops(ctx); err != nil || n != 1 {
			t.Fatalf("after a's lease ran out: %d, %v", n, err)
		}
		for _, tc := range []struct {
			job  *store.Job
			want string
		}{{a, store.VersionStopped}, {b, store.VersionStopping}, {c, store.VersionTraining}} {
			if v, _ := s.Version(ctx, m.ID, tc.job.Version); v.Status != tc.want {
				t.Errorf("version %d: %s, want %s", tc.job.Version, v.Status, tc.want)
			}
		}
	})
}

func TestReleaseWorker(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, _ := jobsQueued(t, e, 2)
		a, _ := s.Lease(ctx, "gpu-1", time.Minute, 1)
		b, _ := s.Lease(ctx, "gpu-2", time.Minute, 1)
		must(t, s.ReleaseWorker(ctx, "gpu-1"))
		ja, _ := s.Job(ctx, a.ID)
		va, _ := s.Version(ctx, m.ID, a.Version)
		if ja.State != store.JobQueued || ja.Attempts != 0 || ja.LeaseID != "" || va.Status != store.VersionQueued {
			t.Fatalf("released job %+v, version %s", ja, va.Status)
		}
		if _, err := s.CheckLease(ctx, b.ID, b.LeaseID); err != nil {
			t.Fatalf("other worker's lease: %v", err)
		}
		// With maxAttempts 1 the released job can still be leased: the
		// release did not use up its attempt.
		again, err := s.Lease(ctx, "gpu-3", time.Minute, 1)
		must(t, err)
		if again == nil || again.ID != a.ID || again.Attempts != 1 {
			t.Fatalf("lease after release = %+v", again)
		}
	})
}

func TestQueueContextCancelled(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		jobsQueued(t, e, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.S.Lease(ctx, "w", time.Minute, 3); err == nil {
			t.Fatal("Lease with a cancelled context worked")
		}
		if j, err := e.S.Lease(context.Background(), "w", time.Minute, 3); err != nil || j == nil {
			t.Fatalf("Lease after the cancelled one: %+v, %v", j, err)
		}
	})
}
