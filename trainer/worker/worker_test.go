package worker_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer/worker"
)

// A job goes lease → download → train → upload → complete, with heartbeats
// that carry progress and keep the lease alive past its first expiry; the
// worker then finds the queue empty and stops with its context.
func TestWorkerTrainsAJob(t *testing.T) {
	opts := trainerOptions(t)
	job, images := hymenopteraJob(t)
	cp := newControlPlane(t, job, images)
	cp.ttl = 2 * time.Second
	// The upload waits for three heartbeats: the job outlives its lease's
	// first 2 s only if they renew it.
	cp.holdReport = func(beats []jobs.Progress) bool { return len(beats) >= 3 }
	cfg, _ := testConfig(t, cp)
	cfg.Trainer = opts
	start := time.Now()
	stop := startWorker(t, cfg)

	cp.waitFor("complete or fail", 60*time.Second, func() bool { return cp.complete != nil || cp.fail != nil })
	t.Logf("job done in %v", time.Since(start))
	cp.waitFor("a poll of the empty queue", 5*time.Second, func() bool { return cp.empty > 0 })
	stop()

	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail != nil {
		t.Fatalf("job failed: %s", cp.fail.Error)
	}
	var stages []string
	for _, p := range cp.beats {
		if p.Stage == "" || p.Percent < 0 || p.Percent > 100 {
			t.Errorf("heartbeat progress %+v: want a stage and a percent in [0, 100]", p)
		}
		stages = append(stages, p.Stage)
	}
	t.Logf("heartbeat stages %v", stages)
	for _, s := range cp.beatStatus {
		if s != http.StatusOK {
			t.Errorf("heartbeat answered %d: the lease was not kept alive", s)
		}
	}

	rep, err := report.Parse(cp.artifacts[jobs.ArtifactReport])
	if err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if rep.ModelID != job.ModelID || rep.Version != job.Version {
		t.Errorf("report for %s v%d, want %s v%d", rep.ModelID, rep.Version, job.ModelID, job.Version)
	}
	if want := (report.Split{Train: 32, Validation: 8, Test: 8}); rep.Split.Train != want.Train ||
		rep.Split.Validation != want.Validation || rep.Split.Test != want.Test {
		t.Errorf("report split %+v, want the server's %+v", rep.Split, want)
	}
	pkg, err := modelpkg.Read(bytes.NewReader(cp.artifacts[jobs.ArtifactPackage]), modelpkg.ReadOptions{})
	if err != nil {
		t.Fatalf("package.tar.gz: %v", err)
	}
	if pkg.Signature != nil {
		t.Error("the worker uploaded a signed package; the control plane signs")
	}
	if m := pkg.Manifest; m.ModelID != job.ModelID || m.Version != job.Version || strings.Join(m.Labels, ",") != "ants,bees" {
		t.Errorf("manifest %s v%d labels %v, want the job's", m.ModelID, m.Version, m.Labels)
	}
	acc, ok := cp.complete.Metrics["accuracy"]
	if !ok || acc < 0 || acc > 1 || acc != rep.Metrics.Accuracy {
		t.Errorf("complete metrics %v: want the report's accuracy %v", cp.complete.Metrics, rep.Metrics.Accuracy)
	}
	t.Logf("test accuracy %.3f on %d images", acc, rep.Split.Test)
	assertEmpty(t, cfg.WorkDir)
}

// A heartbeat answering cancel stops the job within seconds; the worker
// reports nothing more about it and leaves no scratch files.
func TestWorkerStopsACancelledJob(t *testing.T) {
	job, images := hymenopteraJob(t)
	cp := newControlPlane(t, job, images)
	cp.holdImage = job.Images[len(job.Images)-1].ID // still downloading at the first heartbeat
	var cancelled time.Time
	cp.onHeartbeat = func(n int) (bool, bool) {
		if n == 1 {
			cancelled = time.Now()
		}
		return true, false
	}
	cfg, logs := testConfig(t, cp)
	stop := startWorker(t, cfg)

	// Back from the job, the worker asks for the next one.
	cp.waitFor("a lease call after the cancel", 10*time.Second, func() bool { return cp.afterEnd > 0 })
	cp.mu.Lock()
	took := cp.leaseCalls[len(cp.leaseCalls)-1].Sub(cancelled)
	cp.mu.Unlock()
	stop()
	if took > 3*time.Second {
		t.Errorf("the job stopped %v after the cancel, want within 3 s", took)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.complete != nil || cp.fail != nil || len(cp.artifacts) > 0 {
		t.Errorf("after cancel the worker sent complete %v, fail %v, %d artifacts", cp.complete, cp.fail, len(cp.artifacts))
	}
	if logs.FilterMessage("job stopped by the control plane").Len() != 1 {
		t.Error(`no "job stopped by the control plane" log`)
	}
	assertEmpty(t, cfg.WorkDir)
}

// An image that does not arrive as the job describes fails the job with an
// error naming the image.
func TestWorkerFailsOnABadImage(t *testing.T) {
	opts := trainerOptions(t)
	for _, tc := range []struct {
		name string
		// corrupt changes what the server serves for image id, and may
		// change the job.
		corrupt func(job *jobs.Job, images map[string][]byte, i int)
		want    string
	}{
		{"sha256 mismatch", func(job *jobs.Job, images map[string][]byte, i int) {
			images[job.Images[i].ID] = images[job.Images[0].ID] // another photo
		}, "sha256"},
		{"not an image", func(job *jobs.Job, images map[string][]byte, i int) {
			garbage := bytes.Repeat([]byte("not a photo "), 100)
			images[job.Images[i].ID] = garbage
			job.Images[i].SHA256 = sha256Hex(garbage) // the hash matches: only decoding finds it
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job, images := hymenopteraJob(t)
			bad := 30 // a bees training photo
			tc.corrupt(&job, images, bad)
			cp := newControlPlane(t, job, images)
			cfg, _ := testConfig(t, cp)
			cfg.Trainer = opts
			stop := startWorker(t, cfg)
			cp.waitFor("complete or fail", 30*time.Second, func() bool { return cp.complete != nil || cp.fail != nil })
			stop()

			cp.mu.Lock()
			defer cp.mu.Unlock()
			if cp.fail == nil {
				t.Fatal("the job completed with a bad image")
			}
			msg := cp.fail.Error
			t.Logf("fail: %s", msg)
			if id := job.Images[bad].ID; !strings.Contains(msg, id) || !strings.Contains(msg, tc.want) {
				t.Errorf("fail error %q: want it to name image %s (and %q)", msg, id, tc.want)
			}
			if strings.Contains(msg, cfg.WorkDir) {
				t.Errorf("fail error %q shows the worker's scratch path to the user", msg)
			}
			if len(cp.artifacts) > 0 {
				t.Errorf("%d artifacts uploaded for a failed job", len(cp.artifacts))
			}
			assertEmpty(t, cfg.WorkDir)
		})
	}
}

// A token the control plane does not know: every lease is refused with 401
// and the worker keeps asking, waiting longer each time, until stopped.
func TestWorkerRetriesARefusedToken(t *testing.T) {
	cp := newControlPlane(t, jobs.Job{}, nil)
	cfg, logs := testConfig(t, cp)
	cfg.Token = "not-the-token"
	stop := startWorker(t, cfg)
	time.Sleep(time.Second)
	stop()

	cp.mu.Lock()
	defer cp.mu.Unlock()
	calls := cp.leaseCalls
	if cp.unauthorized != len(calls) || len(calls) < 3 {
		t.Fatalf("%d lease calls, %d refused: want at least 3, all refused", len(calls), cp.unauthorized)
	}
	if len(calls) > 8 {
		t.Errorf("%d lease calls in 1 s with a %v poll: no back-off", len(calls), cfg.Poll)
	}
	// The k-th retry waits at least Poll·2^(k-1): the back-off doubles.
	for k, wait := 1, cfg.Poll; k < len(calls); k, wait = k+1, wait*2 {
		if gap := calls[k].Sub(calls[k-1]); gap < wait {
			t.Errorf("retry %d came %v after the one before, want at least %v", k, gap, wait)
		}
	}
	failed := logs.FilterMessage("lease failed").All()
	if len(failed) < 2 {
		t.Fatalf("%d \"lease failed\" logs, want one per refusal", len(failed))
	}
	if err := failed[0].ContextMap()["error"]; !strings.Contains(err.(string), "401") {
		t.Errorf("lease failed with %q, want the 401", err)
	}
}

// A heartbeat answered 410 (the lease expired on the server) makes the
// worker drop the job without completing or failing it.
func TestWorkerDropsALostLease(t *testing.T) {
	job, images := hymenopteraJob(t)
	cp := newControlPlane(t, job, images)
	cp.holdImage = job.Images[len(job.Images)-1].ID
	cp.onHeartbeat = func(n int) (bool, bool) { return false, true } // the server's clock ran out
	cfg, logs := testConfig(t, cp)
	stop := startWorker(t, cfg)

	cp.waitFor("a lease call after the lease was lost", 10*time.Second, func() bool { return cp.afterEnd > 0 })
	stop()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.beatStatus) != 1 || cp.beatStatus[0] != http.StatusGone {
		t.Errorf("heartbeat answers %v, want one 410", cp.beatStatus)
	}
	if cp.complete != nil || cp.fail != nil || len(cp.artifacts) > 0 {
		t.Errorf("after losing the lease the worker sent complete %v, fail %v, %d artifacts", cp.complete, cp.fail, len(cp.artifacts))
	}
	if logs.FilterMessage("lease lost; dropping the job").Len() != 1 {
		t.Error(`no "lease lost; dropping the job" log`)
	}
	assertEmpty(t, cfg.WorkDir)
}

// A heartbeat the control plane never answers holds up neither the job nor
// the worker's next lease.
func TestWorkerAbandonsAStuckHeartbeat(t *testing.T) {
	opts := trainerOptions(t)
	job, images := hymenopteraJob(t)
	cp := newControlPlane(t, job, images)
	cp.hangUpload = true
	// A heartbeat is in flight when the job ends.
	cp.holdReport = func(beats []jobs.Progress) bool { return len(beats) > 0 && beats[len(beats)-1].Stage == "upload" }
	cfg, _ := testConfig(t, cp)
	cfg.Trainer = opts
	stop := startWorker(t, cfg)

	cp.waitFor("complete or fail", 60*time.Second, func() bool { return cp.complete != nil || cp.fail != nil })
	cp.waitFor("a lease call after the job", 3*time.Second, func() bool { return cp.afterEnd > 0 })
	stop()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail != nil {
		t.Errorf("job failed: %s", cp.fail.Error)
	}
	assertEmpty(t, cfg.WorkDir)
}

// A job the worker cannot train is failed with the reason, not left to
// expire and come back to every worker.
func TestWorkerFailsAnInvalidJob(t *testing.T) {
	job, images := hymenopteraJob(t)
	job.AppType = "cloud-fastest"
	cp := newControlPlane(t, job, images)
	cfg, _ := testConfig(t, cp)
	stop := startWorker(t, cfg)
	cp.waitFor("complete or fail", 5*time.Second, func() bool { return cp.complete != nil || cp.fail != nil })
	stop()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail == nil || !strings.Contains(cp.fail.Error, "cloud-fastest") {
		t.Errorf("fail %+v, want the unknown app_type named", cp.fail)
	}
	assertEmpty(t, cfg.WorkDir)
}

// A worker that cannot train (here: no backbones) stops before leasing,
// instead of failing every job in the queue.
func TestWorkerPreflight(t *testing.T) {
	job, images := hymenopteraJob(t)
	cp := newControlPlane(t, job, images)
	cfg, _ := testConfig(t, cp)
	cfg.Trainer.BackbonesDir = t.TempDir()
	err := worker.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no job was leased") {
		t.Fatalf("Run = %v, want a preflight error", err)
	}
	t.Log(err)
}

// An image answered 503 once is fetched again after a short wait, and the
// job completes.
func TestWorkerRetriesATransientImageError(t *testing.T) {
	opts := trainerOptions(t)
	job, images := hymenopteraJob(t)
	flaky := job.Images[5].ID
	cp := newControlPlane(t, job, images)
	cp.imageStatus = func(id string, n int) int {
		if id == flaky && n == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	cfg, _ := testConfig(t, cp)
	cfg.Trainer = opts
	stop := startWorker(t, cfg)
	cp.waitFor("complete or fail", 60*time.Second, func() bool { return cp.complete != nil || cp.fail != nil })
	stop()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail != nil {
		t.Fatalf("job failed after one 503: %s", cp.fail.Error)
	}
	if n := cp.imageGets[flaky]; n != 2 {
		t.Errorf("image %s fetched %d times, want 2", flaky, n)
	}
	assertEmpty(t, cfg.WorkDir)
}

// An image answered 503 every time: after its retries the worker drops the
// job without failing it, stops heartbeating (the lease is left to expire,
// so the job is retried later) and asks for the next job.
func TestWorkerDropsAJobOnAPersistentTransientError(t *testing.T) {
	job, images := hymenopteraJob(t)
	flaky := job.Images[5].ID
	cp := newControlPlane(t, job, images)
	cp.imageStatus = func(id string, n int) int {
		if id == flaky {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	cfg, logs := testConfig(t, cp)
	stop := startWorker(t, cfg)
	const dropped = "transient error; dropping the job, to be retried when its lease expires"
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessage(dropped).Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no drop log within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cp.mu.Lock()
	beats, leases := len(cp.beats), len(cp.leaseCalls)
	cp.mu.Unlock()
	cp.waitFor("a lease call after the drop", 5*time.Second, func() bool { return len(cp.leaseCalls) > leases })
	time.Sleep(1500 * time.Millisecond) // more than a heartbeat period
	stop()

	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail != nil || cp.complete != nil || len(cp.artifacts) > 0 {
		t.Errorf("after a transient error the worker sent complete %v, fail %v, %d artifacts", cp.complete, cp.fail, len(cp.artifacts))
	}
	if cp.leased == nil {
		t.Error("the job's lease was ended; want it left to expire")
	}
	if len(cp.beats) != beats {
		t.Errorf("%d heartbeats after the job was dropped", len(cp.beats)-beats)
	}
	if n := cp.imageGets[flaky]; n != 3 {
		t.Errorf("image %s fetched %d times, want 3", flaky, n)
	}
	if err := logs.FilterMessage(dropped).All()[0].ContextMap()["error"]; !strings.Contains(err.(string), "503") {
		t.Errorf("drop logged %q, want the 503", err)
	}
	assertEmpty(t, cfg.WorkDir)
}

// An image the control plane answers 404 for fails the job with the reason,
// without retries.
func TestWorkerFailsOnAMissingImage(t *testing.T) {
	job, images := hymenopteraJob(t)
	missing := job.Images[5].ID
	delete(images, missing)
	cp := newControlPlane(t, job, images)
	cfg, _ := testConfig(t, cp)
	stop := startWorker(t, cfg)
	cp.waitFor("complete or fail", 10*time.Second, func() bool { return cp.complete != nil || cp.fail != nil })
	stop()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.fail == nil || !strings.Contains(cp.fail.Error, missing) || !strings.Contains(cp.fail.Error, "404") {
		t.Fatalf("fail %+v, want the 404 for image %s", cp.fail, missing)
	}
	if n := cp.imageGets[missing]; n != 1 {
		t.Errorf("image %s fetched %d times, want 1 (a 404 is not retried)", missing, n)
	}
	assertEmpty(t, cfg.WorkDir)
}
