package worker_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
)

// controlPlane is an in-test control plane speaking protocol/jobs as its
// package doc describes: a bearer token on every call, one job leased at a
// time until ExpiresAt, heartbeats that renew the lease and carry cancel,
// 410 for a lease that expired or is not the job's, images and artifacts
// behind the lease header, artifact bodies checked against their sha256
// header, and complete/fail ending the job. A job whose lease is lost is not
// re-queued here (as if the user deleted it), so a test sees one attempt.
type controlPlane struct {
	t      *testing.T
	srv    *httptest.Server
	token  string
	ttl    time.Duration // lease length, renewed by each heartbeat
	beatS  int           // HeartbeatSeconds handed to the worker
	images map[string][]byte

	// Hooks, set before the worker starts.
	onHeartbeat func(n int) (cancel, expire bool) // n counts from 1
	holdImage   string                            // this image's GET waits until the worker hangs up
	holdReport  func(beats []jobs.Progress) bool  // report.json's PUT waits until this holds
	hangUpload  bool                              // heartbeats in the upload stage renew the lease, then are never answered
	imageStatus func(id string, n int) int        // n counts this image's GETs from 1; a non-zero status is answered instead of the image

	mu           sync.Mutex
	queue        []jobs.Job
	leased       *jobs.Lease
	leaseCalls   []time.Time // every lease call, authorised or not
	unauthorized int
	empty        int // 204 answers
	beats        []jobs.Progress
	beatStatus   []int
	imageGets    map[string]int
	artifacts    map[string][]byte
	complete     *jobs.Complete
	fail         *jobs.Fail
	afterEnd     int // lease calls after the job ended
	ended        time.Time
}

func newControlPlane(t *testing.T, job jobs.Job, images map[string][]byte) *controlPlane {
	cp := &controlPlane{t: t, token: "trainer-token-1", ttl: 3 * time.Second, beatS: 1,
		images: images, queue: []jobs.Job{job}, artifacts: map[string][]byte{}, imageGets: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+jobs.PathLease, cp.lease)
	mux.HandleFunc("POST "+jobs.JobPath("{id}", "heartbeat"), cp.heartbeat)
	mux.HandleFunc("GET "+jobs.JobPath("{id}", "images", "{image}"), cp.image)
	mux.HandleFunc("PUT "+jobs.JobPath("{id}", "artifacts", "{name}"), cp.artifact)
	mux.HandleFunc("POST "+jobs.JobPath("{id}", "complete"), cp.completeJob)
	mux.HandleFunc("POST "+jobs.JobPath("{id}", "fail"), cp.failJob)
	cp.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(cp.srv.Close)
	return cp
}

func (cp *controlPlane) URL() string { return cp.srv.URL }

func httpError(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf(format, args...)})
}

func (cp *controlPlane) authorised(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") == "Bearer "+cp.token {
		return true
	}
	cp.mu.Lock()
	cp.unauthorized++
	cp.mu.Unlock()
	httpError(w, http.StatusUnauthorized, "trainer token unknown or revoked")
	return false
}

// decode reads a JSON body strictly: a field this protocol does not have is
// a bug in the worker.
func (cp *controlPlane) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		cp.t.Errorf("%s %s: body: %v", r.Method, r.URL.Path, err)
		httpError(w, http.StatusBadRequest, "body: %v", err)
		return false
	}
	return true
}

// holder returns the lease held on the path's job by the request's lease
// id, or answers 410. Call with cp.mu held.
func (cp *controlPlane) holder(w http.ResponseWriter, r *http.Request, leaseID string) *jobs.Lease {
	l := cp.leased
	switch {
	case l == nil || l.Job.ID != r.PathValue("id"):
		httpError(w, http.StatusGone, "job %s is not leased", r.PathValue("id"))
	case leaseID != l.LeaseID || r.Header.Get(jobs.LeaseHeader) != l.LeaseID:
		httpError(w, http.StatusGone, "lease %q is not the job's lease", leaseID)
	case time.Now().After(l.ExpiresAt):
		httpError(w, http.StatusGone, "lease expired at %s", l.ExpiresAt.Format(time.RFC3339Nano))
	default:
		return l
	}
	return nil
}

func (cp *controlPlane) lease(w http.ResponseWriter, r *http.Request) {
	cp.mu.Lock()
	cp.leaseCalls = append(cp.leaseCalls, time.Now())
	if !cp.ended.IsZero() {
		cp.afterEnd++
	}
	cp.mu.Unlock()
	if !cp.authorised(w, r) {
		return
	}
	var req jobs.LeaseRequest
	if !cp.decode(w, r, &req) {
		return
	}
	if req.Version != jobs.Version || req.WorkerID == "" {
		cp.t.Errorf("lease request %+v: want version %d and a worker id", req, jobs.Version)
		httpError(w, http.StatusBadRequest, "version %d, worker %q", req.Version, req.WorkerID)
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.leased != nil || len(cp.queue) == 0 {
		cp.empty++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	job := cp.queue[0]
	cp.queue = cp.queue[1:]
	cp.leased = &jobs.Lease{LeaseID: "lease-" + job.ID, ExpiresAt: time.Now().Add(cp.ttl), HeartbeatSeconds: cp.beatS, Job: job}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(cp.leased)
}

func (cp *controlPlane) heartbeat(w http.ResponseWriter, r *http.Request) {
	if !cp.authorised(w, r) {
		return
	}
	var hb jobs.Heartbeat
	if !cp.decode(w, r, &hb) {
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.beats = append(cp.beats, hb.Progress)
	var cancel bool
	if cp.onHeartbeat != nil {
		var expire bool
		if cancel, expire = cp.onHeartbeat(len(cp.beats)); expire && cp.leased != nil {
			cp.leased.ExpiresAt = time.Now().Add(-time.Millisecond)
		}
	}
	l := cp.holder(w, r, hb.LeaseID)
	if l == nil {
		cp.beatStatus = append(cp.beatStatus, http.StatusGone)
		cp.endLocked() // lost, and not re-queued
		return
	}
	cp.beatStatus = append(cp.beatStatus, http.StatusOK)
	l.ExpiresAt = time.Now().Add(cp.ttl)
	if cp.hangUpload && hb.Progress.Stage == "upload" {
		cp.mu.Unlock()
		<-r.Context().Done()
		cp.mu.Lock()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(jobs.HeartbeatReply{ExpiresAt: l.ExpiresAt, Cancel: cancel})
	if cancel {
		cp.endLocked() // stopped by the user; the worker reports nothing more
	}
}

func (cp *controlPlane) image(w http.ResponseWriter, r *http.Request) {
	if !cp.authorised(w, r) {
		return
	}
	id := r.PathValue("image")
	cp.mu.Lock()
	l := cp.holder(w, r, r.Header.Get(jobs.LeaseHeader))
	data, ok := cp.images[id]
	status := 0
	if l != nil {
		cp.imageGets[id]++
		if cp.imageStatus != nil {
			status = cp.imageStatus(id, cp.imageGets[id])
		}
	}
	cp.mu.Unlock()
	switch {
	case l == nil:
		return
	case status != 0:
		httpError(w, status, "image %s: the test answers %d", id, status)
		return
	case !ok:
		httpError(w, http.StatusNotFound, "image %s is not in job %s", id, l.Job.ID)
		return
	case id == cp.holdImage:
		// Keep the job in flight until the worker gives up on this call.
		select {
		case <-r.Context().Done():
		case <-time.After(15 * time.Second):
			cp.t.Errorf("the worker still waits for image %s after 15 s", id)
		}
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(data)
}

func (cp *controlPlane) artifact(w http.ResponseWriter, r *http.Request) {
	if !cp.authorised(w, r) {
		return
	}
	name := r.PathValue("name")
	if name != jobs.ArtifactPackage && name != jobs.ArtifactReport {
		cp.t.Errorf("artifact %q is not one of the protocol's", name)
		httpError(w, http.StatusNotFound, "no artifact %q", name)
		return
	}
	if name == jobs.ArtifactReport && cp.holdReport != nil {
		deadline := time.Now().Add(15 * time.Second)
		for !cp.beatsHold(cp.holdReport) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		httpError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	sum := sha256.Sum256(body)
	if got, want := hex.EncodeToString(sum[:]), r.Header.Get(jobs.SHA256Header); got != want {
		cp.t.Errorf("artifact %s: body sha256 %s, header says %q", name, got, want)
		httpError(w, http.StatusBadRequest, "sha256 %s, header says %q", got, want)
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.holder(w, r, r.Header.Get(jobs.LeaseHeader)) == nil {
		return
	}
	cp.artifacts[name] = body
	w.WriteHeader(http.StatusNoContent)
}

func (cp *controlPlane) completeJob(w http.ResponseWriter, r *http.Request) {
	if !cp.authorised(w, r) {
		return
	}
	var c jobs.Complete
	if !cp.decode(w, r, &c) {
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.holder(w, r, c.LeaseID) == nil {
		return
	}
	pkg, ok := cp.artifacts[jobs.ArtifactPackage]
	sum := sha256.Sum256(pkg)
	if _, rep := cp.artifacts[jobs.ArtifactReport]; !ok || !rep || hex.EncodeToString(sum[:]) != c.PackageSHA256 {
		cp.t.Errorf("complete %+v before both artifacts arrived, or with another package's sha256", c)
		httpError(w, http.StatusBadRequest, "artifacts missing or package sha256 differs")
		return
	}
	cp.complete = &c
	cp.endLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (cp *controlPlane) failJob(w http.ResponseWriter, r *http.Request) {
	if !cp.authorised(w, r) {
		return
	}
	var f jobs.Fail
	if !cp.decode(w, r, &f) {
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.holder(w, r, f.LeaseID) == nil {
		return
	}
	cp.fail = &f
	cp.endLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (cp *controlPlane) endLocked() {
	cp.leased = nil
	cp.ended = time.Now()
}

func (cp *controlPlane) beatsHold(cond func([]jobs.Progress) bool) bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cond(cp.beats)
}

// waitFor polls cond, under the server's lock, until it holds or the
// timeout passes.
func (cp *controlPlane) waitFor(what string, timeout time.Duration, cond func() bool) {
	cp.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cp.mu.Lock()
		ok := cond()
		cp.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			cp.t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
