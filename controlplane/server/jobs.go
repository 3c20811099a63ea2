package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/protocol/report"
)

var zeroTime time.Time

// The job API (protocol/jobs) for trainer workers: the queue lives in the
// store, so any replica answers any call.

func (s *Server) leaseJob(c *gin.Context) {
	var req jobs.LeaseRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Version < 1 || req.Version > jobs.Version {
		failf(c, api.CodeUnsupportedVersion, "worker speaks job API %d; this server speaks 1–%d: upgrade the trainer", req.Version, jobs.Version)
		return
	}
	if req.WorkerID == "" || len(req.WorkerID) > 128 || !printableASCII(req.WorkerID) {
		fail(c, api.CodeInvalid, "worker_id must be 1–128 printable ASCII characters")
		return
	}
	if err := jobs.ValidateProblems(req.Problems); err != nil {
		fail(c, api.CodeInvalid, err.Error())
		return
	}
	s.trainers.lease(req.WorkerID, req.Problems, time.Now())
	if len(req.Problems) > 0 { // it cannot train: no job for it
		c.Status(http.StatusNoContent)
		return
	}
	j, err := s.st.Lease(c.Request.Context(), req.WorkerID, s.opt.LeaseTTL, s.opt.MaxAttempts)
	if err != nil {
		s.internal(c, err)
		return
	}
	if j == nil {
		c.Status(http.StatusNoContent)
		return
	}
	spec := j.Spec
	spec.ID, spec.ModelID, spec.Version = j.ID, j.ModelID, j.Version
	s.trainers.leased(j.LeaseID, req.WorkerID)
	s.log.Info("job leased", zap.String("job", j.ID), zap.String("worker", req.WorkerID), zap.Int("attempt", j.Attempts))
	c.JSON(http.StatusOK, jobs.Lease{LeaseID: j.LeaseID, ExpiresAt: j.LeaseExpires.UTC(),
		HeartbeatSeconds: max(1, int(s.opt.LeaseTTL.Seconds()/4)), Job: spec})
}

// leaseLost answers 410 for a lease that no longer holds its job.
func (s *Server) leaseError(c *gin.Context, err error) {
	if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) {
		fail(c, api.CodeLeaseLost, "job "+c.Param("id")+": "+err.Error())
		return
	}
	s.internal(c, err)
}

func (s *Server) heartbeat(c *gin.Context) {
	var hb jobs.Heartbeat
	if !bindJSON(c, &hb) {
		return
	}
	p := hb.Progress
	if p.Percent < 0 || p.Percent > 100 || p.ETASeconds < 0 || len(p.Stage) > 64 || len(p.Message) > 1024 {
		fail(c, api.CodeInvalid, "progress: percent 0–100, eta_seconds ≥ 0, stage ≤ 64 and message ≤ 1024 bytes")
		return
	}
	exp, cancel, err := s.st.Heartbeat(c.Request.Context(), c.Param("id"), hb.LeaseID, p, s.opt.LeaseTTL)
	if err != nil {
		s.leaseError(c, err)
		return
	}
	s.trainers.beat(hb.LeaseID, time.Now())
	c.JSON(http.StatusOK, jobs.HeartbeatReply{ExpiresAt: exp.UTC(), Cancel: cancel})
}

// leased checks the lease header against the path's job.
func (s *Server) leased(c *gin.Context) *store.Job {
	j, err := s.st.CheckLease(c.Request.Context(), c.Param("id"), c.GetHeader(jobs.LeaseHeader))
	if err != nil {
		s.leaseError(c, err)
		return nil
	}
	return j
}

func (s *Server) jobImage(c *gin.Context) {
	sha, err := s.st.LeasedImage(c.Request.Context(), c.Param("id"), c.GetHeader(jobs.LeaseHeader), c.Param("image"))
	if errors.Is(err, store.ErrNotFound) {
		fail(c, api.CodeNotFound, "image "+c.Param("image")+" is not part of job "+c.Param("id"))
		return
	}
	if err != nil {
		s.leaseError(c, err)
		return
	}
	s.sendBlob(c, sha, "application/octet-stream", "")
}

// putArtifact stores an upload in the blob store under the sha256 the
// worker declared; a body that does not hash to it is refused.
func (s *Server) putArtifact(c *gin.Context) {
	j := s.leased(c)
	if j == nil {
		return
	}
	name := c.Param("name")
	if name != jobs.ArtifactPackage && name != jobs.ArtifactReport {
		failf(c, api.CodeInvalid, "artifact %q: want %s or %s", name, jobs.ArtifactPackage, jobs.ArtifactReport)
		return
	}
	sum := c.GetHeader(jobs.SHA256Header)
	if !blob.ValidSHA(sum) {
		fail(c, api.CodeInvalid, jobs.SHA256Header+" must be 64 lowercase hex digits")
		return
	}
	var body io.Reader = c.Request.Body
	if name == jobs.ArtifactReport {
		b, err := io.ReadAll(io.LimitReader(c.Request.Body, 64<<20))
		if err != nil {
			fail(c, api.CodeUploadFailed, err.Error())
			return
		}
		if _, err := report.Parse(b); err != nil {
			fail(c, api.CodeInvalidReport, "report.json: "+err.Error())
			return
		}
		body = bytes.NewReader(b)
	}
	if err := s.blobs.PutKnown(c.Request.Context(), sum, body); err != nil {
		if errors.Is(err, blob.ErrHashMismatch) {
			fail(c, api.CodeChecksum, "the body does not hash to "+sum)
			return
		}
		s.internal(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// completeJob signs the uploaded package with the control plane's key,
// checks its report is the one uploaded, and ends the job.
func (s *Server) completeJob(c *gin.Context) {
	var req jobs.Complete
	if !bindJSON(c, &req) {
		return
	}
	c.Request.Header.Set(jobs.LeaseHeader, req.LeaseID)
	j := s.leased(c)
	if j == nil {
		return
	}
	signed, reportSHA, err := s.signPackage(c.Request.Context(), j, req.PackageSHA256)
	if err != nil && !badPackage(err) {
		// Our side failed (blob store, disk): the job keeps its lease, and
		// the worker retries or lets it expire back into the queue.
		s.log.Error("signing a job's package", zap.String("job", j.ID), zap.Error(err))
		fail(c, api.CodeServiceUnavailable, "the server could not store the package just now; try again")
		return
	}
	if err != nil {
		msg := "package: " + err.Error()
		s.log.Warn("refusing a job's package", zap.String("job", j.ID), zap.Error(err))
		if ferr := s.st.FailJob(c.Request.Context(), j.ID, req.LeaseID, msg); ferr != nil {
			s.leaseError(c, ferr)
			return
		}
		fail(c, api.CodeInvalidPackage, msg)
		return
	}
	if err := s.st.CompleteJob(c.Request.Context(), j.ID, req.LeaseID, signed, reportSHA, req.Metrics); err != nil {
		s.leaseError(c, err)
		return
	}
	s.log.Info("job complete", zap.String("job", j.ID), zap.String("model", j.ModelID), zap.Int("version", j.Version))
	c.Status(http.StatusNoContent)
}

func (s *Server) signPackage(ctx context.Context, j *store.Job, sha string) (signed, reportSHA string, err error) {
	rc, _, err := s.blobs.Get(ctx, sha)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidSHA) {
		return "", "", fmt.Errorf("%w: %s was not uploaded as the job's package", errBadPackage, sha)
	}
	if err != nil {
		return "", "", err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Join(s.opt.DataDir, "uploads"), "signed-*.tar.gz")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	m, err := modelpkg.Resign(rc, tmp, s.key, modelpkg.Limits{})
	if err != nil {
		return "", "", err
	}
	if m.ModelID != j.ModelID || m.Version != j.Version {
		return "", "", fmt.Errorf("%w: it is model %s version %d, the job is %s version %d", errBadPackage, m.ModelID, m.Version, j.ModelID, j.Version)
	}
	if !sameSet(m.Labels, j.Spec.Labels) {
		return "", "", fmt.Errorf("%w: its labels %v are not the job's %v", errBadPackage, m.Labels, j.Spec.Labels)
	}
	for _, mem := range m.Members {
		if mem.Name == modelpkg.ReportName {
			reportSHA = mem.SHA256
		}
	}
	if reportSHA == "" {
		return "", "", fmt.Errorf("%w: it has no report.json", errBadPackage)
	}
	if _, err := s.blobs.Stat(ctx, reportSHA); errors.Is(err, blob.ErrNotFound) {
		return "", "", fmt.Errorf("%w: its report.json was not uploaded as the job's report artifact", errBadPackage)
	} else if err != nil {
		return "", "", err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", "", err
	}
	signed, _, err = s.blobs.Put(ctx, tmp)
	return signed, reportSHA, err
}

func (s *Server) failJob(c *gin.Context) {
	var req jobs.Fail
	if !bindJSON(c, &req) {
		return
	}
	msg := req.Error
	if msg == "" {
		msg = "the trainer failed without saying why"
	}
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	if err := s.st.FailJob(c.Request.Context(), c.Param("id"), req.LeaseID, msg); err != nil {
		s.leaseError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// errBadPackage marks a package refused for what it is (as opposed to
// the server failing to handle it).
var errBadPackage = errors.New("bad package")

// badPackage reports whether a signing error is the package's fault: the
// job fails then; anything else is the server's and may be retried.
func badPackage(err error) bool {
	for _, e := range []error{errBadPackage, modelpkg.ErrSchema, modelpkg.ErrInvalid, modelpkg.ErrHash, modelpkg.ErrUnlisted,
		modelpkg.ErrMissing, modelpkg.ErrDuplicate, modelpkg.ErrUnsafePath, modelpkg.ErrTooLarge, modelpkg.ErrCorrupt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x]--; seen[x] < 0 {
			return false
		}
	}
	return true
}

// sweepStops ends the jobs a user stopped whose trainer went away before
// acknowledging (store.EndExpiredStops), so no version stays stopping.
func (s *Server) sweepStops() {
	defer s.wg.Done()
	t := time.NewTicker(max(time.Second, s.opt.LeaseTTL/2))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if n, err := s.st.EndExpiredStops(s.ctx); err != nil {
				s.log.Warn("ending stopped jobs whose trainer went away", zap.Error(err))
			} else if n > 0 {
				s.log.Info("stopped jobs ended after their trainer went away", zap.Int("jobs", n))
			}
		}
	}
}
