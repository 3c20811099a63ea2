package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/trainer"
)

// Config configures a worker.
type Config struct {
	Server, Token string
	WorkerID      string
	Poll          time.Duration // wait between empty leases; default 5s
	WorkDir       string        // scratch space; default os.TempDir()
	Trainer       trainer.Options
	Logger        *zap.Logger
}

// Run works the queue until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	c, err := NewClient(cfg.Server, cfg.Token)
	if err != nil {
		return err
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.WorkerID == "" {
		host, _ := os.Hostname()
		cfg.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log := cfg.Logger.With(zap.String("worker", cfg.WorkerID))
	if err := trainer.Preflight(cfg.Trainer); err != nil {
		return fmt.Errorf("this machine cannot train yet, so no job was leased: %w", err)
	}
	log.Info("worker started", zap.String("server", cfg.Server))
	backoff := cfg.Poll
	for ctx.Err() == nil {
		lease, err := c.Lease(ctx, jobs.LeaseRequest{Version: jobs.Version, WorkerID: cfg.WorkerID, Device: cfg.Trainer.Device})
		switch {
		case ctx.Err() != nil:
		case err != nil:
			log.Warn("lease failed", zap.Error(err), zap.Duration("retry_in", backoff))
			sleep(ctx, backoff)
			backoff = min(backoff*2, time.Minute)
		case lease == nil:
			backoff = cfg.Poll
			sleep(ctx, cfg.Poll)
		default:
			backoff = cfg.Poll
			RunJob(ctx, c, cfg, lease, log)
		}
	}
	log.Info("worker stopped")
	return nil
}

// RunJob trains one leased job and reports the outcome. Permanent errors are
// reported to the control plane with Fail, not returned; after a transient
// error (see IsTransient) that outlived its retries the job is dropped
// unreported, so its lease expires and it is leased again. Either way the
// worker goes on with the next job.
func RunJob(ctx context.Context, c *Client, cfg Config, lease *jobs.Lease, log *zap.Logger) {
	job := lease.Job
	log = log.With(zap.String("job", job.ID), zap.String("model", job.ModelID), zap.Int("version", job.Version))
	log.Info("job leased", zap.Int("images", len(job.Images)), zap.String("app_type", job.AppType))

	if err := job.Validate(); err != nil {
		log.Error("job refused", zap.Error(err))
		if ferr := c.Fail(ctx, job.ID, jobs.Fail{LeaseID: lease.LeaseID, Error: err.Error()}); ferr != nil {
			log.Warn("reporting failure", zap.Error(ferr))
		}
		return
	}

	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	hb := startBeater(jobCtx, c, lease, cancel, log)
	res, err := trainJob(jobCtx, c, cfg, lease, hb)
	// Heartbeats end before the job's last word, so none races with
	// Complete or Fail; stop also abandons a heartbeat still in flight.
	hb.stop()
	switch {
	case hb.cancelled():
		log.Info("job stopped by the control plane")
	case errors.Is(err, ErrLeaseLost) || hb.lost():
		log.Warn("lease lost; dropping the job", zap.Error(err))
	case ctx.Err() != nil:
		log.Info("worker stopping; the job goes back to the queue when its lease expires")
	case IsTransient(err):
		// Not the job's fault: failing it would end it for good. Heartbeats
		// have stopped, so the lease expires and the job is leased again.
		log.Warn("transient error; dropping the job, to be retried when its lease expires", zap.Error(err))
	case err != nil:
		log.Error("job failed", zap.Error(err))
		if ferr := c.Fail(ctx, job.ID, jobs.Fail{LeaseID: lease.LeaseID, Error: err.Error()}); ferr != nil {
			log.Warn("reporting failure", zap.Error(ferr))
		}
	default:
		if err := c.Complete(ctx, job.ID, *res); err != nil {
			log.Error("completing job", zap.Error(err))
			return
		}
		log.Info("job done", zap.Any("metrics", res.Metrics))
	}
}

func trainJob(ctx context.Context, c *Client, cfg Config, lease *jobs.Lease, hb *beater) (*jobs.Complete, error) {
	job := lease.Job
	dir, err := os.MkdirTemp(cfg.WorkDir, "autocv-job-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	in := trainer.Input{ModelID: job.ModelID, Version: job.Version, AppType: job.AppType,
		Metric: job.Metric, Seed: job.Seed, Labels: job.Labels}
	imgDir := filepath.Join(dir, "images")
	if err := os.Mkdir(imgDir, 0o755); err != nil {
		return nil, err
	}
	for i, im := range job.Images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(imgDir, fmt.Sprintf("%06d", i))
		if err := c.Image(ctx, job.ID, lease.LeaseID, im, path); err != nil {
			return nil, err
		}
		in.Items = append(in.Items, trainer.Item{ID: im.ID, Label: im.Label, Split: im.Split, Path: path, SHA256: im.SHA256, Source: im.Source})
		hb.progress(jobs.Progress{Stage: "download", Percent: 100 * float64(i+1) / float64(len(job.Images))})
	}

	opts := cfg.Trainer
	opts.Logger = cfg.Logger
	opts.Progress = hb.progress
	opts.Key = nil // workers upload unsigned packages; the control plane signs
	out := filepath.Join(dir, "out")
	res, err := trainer.Train(ctx, in, out, opts)
	if err != nil {
		return nil, err
	}
	hb.progress(jobs.Progress{Stage: "upload", Percent: 0})
	if _, err := c.Upload(ctx, job.ID, lease.LeaseID, jobs.ArtifactReport, res.ReportPath); err != nil {
		return nil, err
	}
	sum, err := c.Upload(ctx, job.ID, lease.LeaseID, jobs.ArtifactPackage, res.PackagePath)
	if err != nil {
		return nil, err
	}
	hb.progress(jobs.Progress{Stage: "upload", Percent: 100})
	return &jobs.Complete{LeaseID: lease.LeaseID, PackageSHA256: sum, Metrics: res.Metrics()}, nil
}

// beater keeps the lease alive and carries the latest progress.
type beater struct {
	c      *Client
	lease  *jobs.Lease
	cancel context.CancelFunc
	log    *zap.Logger

	mu        sync.Mutex
	last      jobs.Progress
	wasCancel bool
	wasLost   bool
	quit      context.CancelFunc
	done      chan struct{}
}

// startBeater starts heartbeats for the job running under jobCtx; cancel
// stops the job when the control plane says so or the lease is lost.
func startBeater(jobCtx context.Context, c *Client, lease *jobs.Lease, cancel context.CancelFunc, log *zap.Logger) *beater {
	ctx, quit := context.WithCancel(jobCtx)
	b := &beater{c: c, lease: lease, cancel: cancel, log: log, quit: quit, done: make(chan struct{})}
	go b.run(ctx)
	return b
}

func (b *beater) progress(p jobs.Progress) {
	b.mu.Lock()
	b.last = p
	b.mu.Unlock()
}

func (b *beater) run(ctx context.Context) {
	defer close(b.done)
	every := time.Duration(b.lease.HeartbeatSeconds) * time.Second
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		p := b.last
		b.mu.Unlock()
		// A heartbeat stuck longer than a period (5 s at least) is abandoned so
		// that the next one can still renew the lease.
		hbCtx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
		reply, err := b.c.Heartbeat(hbCtx, b.lease.Job.ID, jobs.Heartbeat{LeaseID: b.lease.LeaseID, Progress: p})
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrLeaseLost):
			b.set(&b.wasLost)
			b.cancel()
			return
		case err != nil:
			b.log.Warn("heartbeat failed", zap.Error(err)) // the lease may still hold; try again
		case reply.Cancel:
			b.set(&b.wasCancel)
			b.cancel()
			return
		}
	}
}

func (b *beater) set(flag *bool) {
	b.mu.Lock()
	*flag = true
	b.mu.Unlock()
}

func (b *beater) cancelled() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.wasCancel }
func (b *beater) lost() bool      { b.mu.Lock(); defer b.mu.Unlock(); return b.wasLost }

// stop ends the heartbeats and waits for the goroutine; it may be called
// more than once.
func (b *beater) stop() {
	b.quit()
	<-b.done
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
