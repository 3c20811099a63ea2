// Package jobs is the training job API between the control plane and
// trainer workers (`autocv-trainer worker`).
//
// The control plane keeps a queue of jobs in its database. A worker, with a
// trainer token scoped to these calls, leases one job at a time over HTTP
// (JSON under /api/v1/jobs), downloads the job's frozen image list, keeps the
// lease alive with heartbeats that also carry progress, uploads the unsigned
// package and the report, and completes or fails the job. A heartbeat
// answers Cancel when a user stopped the job; the worker then stops within
// seconds and reports nothing more. A lease that is not renewed expires and
// the job goes back to the queue.
//
//	POST /api/v1/jobs/lease                     LeaseRequest → 200 Lease | 204 no job
//	POST /api/v1/jobs/{id}/heartbeat            Heartbeat → HeartbeatReply (410: lease lost)
//	GET  /api/v1/jobs/{id}/images/{image_id}    the image bytes (header LeaseHeader)
//	PUT  /api/v1/jobs/{id}/artifacts/{name}     ArtifactPackage | ArtifactReport body (header LeaseHeader, SHA256Header)
//	POST /api/v1/jobs/{id}/complete             Complete
//	POST /api/v1/jobs/{id}/fail                 Fail
package jobs

import (
	"slices"

	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/autocv/autocv/protocol/report"
)

// Version of this API; workers send it in LeaseRequest and the control
// plane refuses workers older than it supports.
//
// History:
//
//	1: 2026-11-25 lease, heartbeat with progress and cancel, images, artifacts, complete, fail.
//	2: 2026-12-08 a lease request may carry Problems: why the worker cannot train.
const Version = 2

// Paths, relative to the control plane's base URL.
const (
	PathLease       = "/api/v1/jobs/lease"
	pathJob         = "/api/v1/jobs/"
	LeaseHeader     = "X-AutoCV-Lease"
	SHA256Header    = "X-AutoCV-SHA256"
	ArtifactPackage = "package.tar.gz"
	ArtifactReport  = "report.json"
)

// JobPath returns /api/v1/jobs/{id}/{rest...}.
func JobPath(id string, rest ...string) string {
	p := pathJob + id
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Application types (the seed's 云服务/离线服务 × 通用/高精度/高性能).
const (
	CloudGeneral           = "cloud-general"
	CloudHighAccuracy      = "cloud-high-accuracy"
	OfflineGeneral         = "offline-general"
	OfflineHighPerformance = "offline-high-performance"
)

// Recipes the trainer knows; each application type maps to one.
const (
	RecipeGeneral         = "general"
	RecipeHighAccuracy    = "high-accuracy"
	RecipeHighPerformance = "high-performance"
)

// RecipeFor maps an application type to its training recipe; the two
// general types train the same recipe.
func RecipeFor(appType string) (string, bool) {
	switch appType {
	case CloudGeneral, OfflineGeneral:
		return RecipeGeneral, true
	case CloudHighAccuracy:
		return RecipeHighAccuracy, true
	case OfflineHighPerformance:
		return RecipeHighPerformance, true
	}
	return "", false
}

// Metrics a version can be selected on: the report's selection metrics.
var Metrics = report.SelectionMetrics()

// Splits an image can be in.
const (
	SplitTrain      = "train"
	SplitValidation = "validation"
	SplitTest       = "test"
)

// LeaseRequest asks for a job.
type LeaseRequest struct {
	Version  int    `json:"version"`
	WorkerID string `json:"worker_id"`
	Device   string `json:"device"` // cpu | cuda
	// Problems say why this worker cannot train now (version ≥ 2); a
	// worker that sends any is given no job. See problems.go.
	Problems []Problem `json:"problems,omitempty"`
}

// Lease is a job leased to one worker until ExpiresAt.
type Lease struct {
	LeaseID          string    `json:"lease_id"`
	ExpiresAt        time.Time `json:"expires_at"`
	HeartbeatSeconds int       `json:"heartbeat_seconds"`
	Job              Job       `json:"job"`
}

// Job is one version to train: the frozen, already split image list.
type Job struct {
	ID      string   `json:"id"`
	ModelID string   `json:"model_id"`
	Version int      `json:"version"`
	AppType string   `json:"app_type"`
	Metric  string   `json:"metric"`
	Seed    uint64   `json:"seed"`
	Labels  []string `json:"labels"`
	Images  []Image  `json:"images"`
}

// Image is one photo of a job.
type Image struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	Label  string `json:"label"`
	Split  string `json:"split"`
	Source string `json:"source,omitempty"` // e.g. dataset name / path, for the report
}

// Progress is where a job is.
type Progress struct {
	Stage      string  `json:"stage"` // e.g. download, features, train, evaluate, export, upload
	Percent    float64 `json:"percent"`
	ETASeconds int     `json:"eta_seconds"`
	Message    string  `json:"message,omitempty"`
}

// Heartbeat renews a lease and reports progress.
type Heartbeat struct {
	LeaseID  string   `json:"lease_id"`
	Progress Progress `json:"progress"`
}

// HeartbeatReply says how long the lease now lasts and whether to stop.
type HeartbeatReply struct {
	ExpiresAt time.Time `json:"expires_at"`
	Cancel    bool      `json:"cancel"`
}

// Complete ends a job that produced its artifacts.
type Complete struct {
	LeaseID       string             `json:"lease_id"`
	PackageSHA256 string             `json:"package_sha256"`
	Metrics       map[string]float64 `json:"metrics"`
}

// Fail ends a job that could not be trained; Error is shown to the user.
type Fail struct {
	LeaseID string `json:"lease_id"`
	Error   string `json:"error"`
}

// ErrInvalid wraps every validation error of this package.
var ErrInvalid = errors.New("invalid job")

var (
	idRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate checks a job before a worker spends time on it.
func (j *Job) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrInvalid, j.ID, fmt.Sprintf(format, args...))
	}
	if !idRE.MatchString(j.ID) {
		return fmt.Errorf("%w: job id %q", ErrInvalid, j.ID)
	}
	if !idRE.MatchString(j.ModelID) || j.Version < 1 {
		return bad("model %q version %d", j.ModelID, j.Version)
	}
	if _, ok := RecipeFor(j.AppType); !ok {
		return bad("unknown app_type %q", j.AppType)
	}
	if !validMetric(j.Metric) {
		return bad("unknown metric %q (want one of %v)", j.Metric, Metrics)
	}
	if len(j.Labels) < 2 {
		return bad("%d labels, need at least 2", len(j.Labels))
	}
	labels := map[string]bool{}
	for _, l := range j.Labels {
		if l == "" || labels[l] {
			return bad("label %q empty or repeated", l)
		}
		labels[l] = true
	}
	seen := map[string]bool{}
	for _, im := range j.Images {
		switch {
		case !idRE.MatchString(im.ID) || seen[im.ID]:
			return bad("image id %q invalid or repeated", im.ID)
		case !hexRE.MatchString(im.SHA256):
			return bad("image %s: sha256 %q", im.ID, im.SHA256)
		case !labels[im.Label]:
			return bad("image %s: label %q is not one of the job's labels", im.ID, im.Label)
		case im.Split != SplitTrain && im.Split != SplitValidation && im.Split != SplitTest:
			return bad("image %s: split %q", im.ID, im.Split)
		}
		seen[im.ID] = true
	}
	return nil
}

func validMetric(m string) bool { return slices.Contains(Metrics, m) }
