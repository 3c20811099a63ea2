package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/trainer"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/worker"
)

func workerCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("worker")
	var cfg worker.Config
	fs.StringVar(&cfg.Server, "server", envDefault("AUTOCV_SERVER", ""), "control plane `URL`, e.g. http://127.0.0.1:8080")
	fs.StringVar(&cfg.Token, "token", envDefault("AUTOCV_TOKEN", ""), "trainer `token` (POST /api/v1/trainer-tokens)")
	fs.StringVar(&cfg.WorkerID, "worker-id", envDefault("AUTOCV_WORKER_ID", ""), "name shown in the queue (default host-pid)")
	fs.StringVar(&cfg.WorkDir, "work-dir", envDefault("AUTOCV_WORK_DIR", ""), "scratch `folder` (default the system temp folder)")
	poll := fs.Duration("poll", 5*time.Second, "wait between polls of an empty queue")
	recheck := fs.Duration("recheck", 30*time.Second, "while this machine cannot train (e.g. no backbones): wait between checks, each reported to the control plane")
	opts := trainerFlags(fs)
	logLevel := fs.String("log-level", envDefault("AUTOCV_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	defer log.Sync()
	cfg.Poll = *poll
	if *recheck <= 0 {
		return fmt.Errorf("--recheck %v: want a positive interval, e.g. 30s", *recheck)
	}
	// Without --backbones or AUTOCV_BACKBONES the folder is searched again
	// at every check, so one filled later (make deps) is found.
	searched := opts.BackbonesDir == ""
	if cfg.WorkerID == "" {
		host, _ := os.Hostname()
		cfg.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	cfg.Trainer = *opts
	cfg.Logger = log
	dir, err := waitUntilReady(ctx, cfg, *recheck, searched, log)
	if err != nil || ctx.Err() != nil {
		return err
	}
	cfg.Trainer.BackbonesDir = dir
	return worker.Run(ctx, cfg)
}

// waitUntilReady returns once this machine can train. Until then it
// checks again every recheck and tells the control plane why it cannot
// (a lease request carrying the problem, which gets no job), logging at
// most once a minute: a missing backbone folder is something to fix, not a
// reason to exit and be restarted in a loop.
// It returns the backbone folder to use: the configured one, or (search)
// the one defaultBackbones finds at the check that succeeded.
func waitUntilReady(ctx context.Context, cfg worker.Config, recheck time.Duration, search bool, log *zap.Logger) (string, error) {
	c, err := worker.NewClient(cfg.Server, cfg.Token)
	if err != nil {
		return "", err
	}
	var logged time.Time
	for ctx.Err() == nil {
		if search {
			cfg.Trainer.BackbonesDir = defaultBackbones()
		}
		err := trainer.Preflight(cfg.Trainer)
		if err == nil {
			if !logged.IsZero() {
				log.Info("this machine can train now", zap.String("backbones", cfg.Trainer.BackbonesDir))
			}
			return cfg.Trainer.BackbonesDir, nil
		}
		p := problemOf(err, cfg.Trainer.BackbonesDir)
		req := jobs.LeaseRequest{Version: jobs.Version, WorkerID: cfg.WorkerID, Device: cfg.Trainer.Device, Problems: []jobs.Problem{p}}
		_, lerr := c.Lease(ctx, req)
		if time.Since(logged) >= time.Minute {
			logged = time.Now()
			log.Warn("this machine cannot train yet; no job is leased until it can",
				zap.String("problem", p.Code), zap.Error(err), zap.Duration("checking_again_every", recheck),
				zap.String("what_to_do", jobs.TextFor(p.Code).EN))
			if lerr != nil && ctx.Err() == nil {
				log.Warn("telling the control plane failed", zap.Error(lerr))
			}
		}
		t := time.NewTimer(recheck)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return cfg.Trainer.BackbonesDir, nil
}

// problemOf names a preflight error's problem code, with the error and,
// for missing backbones, the folders looked in as the detail.
func problemOf(err error, dir string) jobs.Problem {
	detail := err.Error()
	code := jobs.ProblemUnavailable
	switch {
	case errors.Is(err, backbone.ErrMissing):
		code = jobs.ProblemNoBackbones
		if dir == "" {
			detail += "; looked in " + strings.Join(backboneCandidates(), ", ")
		}
	case errors.Is(err, backbone.ErrChecksum):
		code = jobs.ProblemBadBackbones
	case errors.Is(err, engine.ErrLibrary):
		code = jobs.ProblemNoRuntime
	}
	if len(detail) > jobs.MaxProblemDetail {
		// cut on a character boundary: a split UTF-8 sequence would grow
		// when encoded and the server would refuse the report
		detail = strings.ToValidUTF8(detail[:jobs.MaxProblemDetail-8], "")
	}
	return jobs.Problem{Code: code, Detail: detail}
}

// trainerFlags registers the settings both commands share.
func trainerFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}) *trainer.Options {
	var o trainer.Options
	fs.StringVar(&o.BackbonesDir, "backbones", envDefault("AUTOCV_BACKBONES", ""), "`folder` of backbone .onnx files (default: backbones/ beside the binary, .cache/backbones, then ../shared/data/backbones)")
	fs.StringVar(&o.CacheDir, "cache-dir", envDefault("AUTOCV_CACHE_DIR", ""), "feature cache `folder` (default: the user's cache folder)")
	fs.StringVar(&o.Device, "device", envDefault("AUTOCV_DEVICE", "cpu"), "cpu, cuda or auto")
	return &o
}
