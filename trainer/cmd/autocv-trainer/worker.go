package main

import (
	"context"
	"time"

	"github.com/autocv/autocv/trainer"
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
	if opts.BackbonesDir == "" {
		opts.BackbonesDir = defaultBackbones()
	}
	cfg.Trainer = *opts
	cfg.Logger = log
	return worker.Run(ctx, cfg)
}

// trainerFlags registers the settings both commands share.
func trainerFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}) *trainer.Options {
	var o trainer.Options
	fs.StringVar(&o.BackbonesDir, "backbones", envDefault("AUTOCV_BACKBONES", ""), "`folder` of backbone .onnx files (default: beside the binary, then ../shared/data/backbones)")
	fs.StringVar(&o.CacheDir, "cache-dir", envDefault("AUTOCV_CACHE_DIR", ""), "feature cache `folder` (default: the user's cache folder)")
	fs.StringVar(&o.Device, "device", envDefault("AUTOCV_DEVICE", "cpu"), "cpu, cuda or auto")
	return &o
}
