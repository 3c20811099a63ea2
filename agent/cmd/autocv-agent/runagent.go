package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/agent/reconcile"
	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/session"
	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/fleet"
)

// runAgent runs `autocv-agent run`: the enrolled agent. It serves the HTTP
// API from the start (503 until a model is deployed), keeps the MQTT
// session and reconciles the desired state until a signal stops it.
func runAgent(args []string) error {
	cfg, err := loadRunConfig(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	sd, err := state.Open(cfg.StateDir)
	if err != nil {
		return err
	}
	id, err := sd.Identity()
	if err != nil {
		return err
	}
	key, keyPEM, err := sd.TrustKey()
	if err != nil {
		return err
	}
	pkgs, err := store.Open(sd.Packages(), cfg.MaxStoreBytes)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Serve)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	defer log.Info("stopped")
	log = log.With(zap.String("device", id.DeviceID))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var env []string
	if cfg.ONNXRuntimeLib != "" {
		env = append(env, "ONNXRUNTIME_LIB="+cfg.ONNXRuntimeLib)
	}
	run := runner.New(runner.Config{
		Host:   host.Config{Binary: cfg.PluginBinary, Name: cfg.Plugin, Env: env, Logger: log.Named("plugin")},
		Logger: log.Named("runner"),
	})
	stopSignals := handleSignals(cancel, log, run.KillNow)
	defer stopSignals()
	defer run.Close() // last: after the HTTP server drained

	meter := &reconcile.Meter{}
	api := httpapi.New(httpapi.Config{
		Runner: run, Logger: log.Named("http"), Version: agentVersion(),
		MaxImageBytes: cfg.MaxImageBytes, MaxFiles: cfg.MaxFiles, MaxConcurrent: cfg.MaxConcurrent,
		MaxQueue: queueSize(cfg.MaxQueue), RequestTimeout: cfg.RequestTimeout, APIKey: cfg.APIKey,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another agent running? pick another address with --listen HOST:PORT)", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           meter.Wrap(api.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer shutdown(srv, cfg.ShutdownGrace, log)
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("state_dir", sd.Path))
	fmt.Printf("autocv-agent listening on %s (device %s)\n", ln.Addr(), id.DeviceID)

	sess, err := session.Open(session.Config{
		DeviceID: id.DeviceID, Broker: id.MQTT, Logger: log.Named("mqtt"),
		Will: reconcile.Reported(agentVersion(), cfg.Plugin, fleet.StateOffline),
	})
	if err != nil {
		return err
	}
	defer sess.Close(time.Second) // after the reconciler said "offline"

	fetcher := &transfer.Fetcher{
		Store: pkgs,
		MQTT: &transfer.MQTT{
			Publish: sess.Publish, Chunks: sess.Chunks(), NextConnect: sess.NextConnect, Connected: sess.Connected,
			Window: cfg.TransferWindow, Timeout: cfg.TransferTimeout, Logger: log.Named("transfer"),
		},
		HTTP:   &transfer.HTTP{Client: &http.Client{Timeout: 30 * time.Minute}, Logger: log.Named("transfer")},
		Logger: log.Named("transfer"),
	}
	rec := reconcile.New(reconcile.Config{
		State: sd, Store: pkgs, Session: sess, Fetcher: fetcher, Server: run,
		TrustKey: key, TrustPEM: keyPEM, Plugin: cfg.Plugin, AgentVersion: agentVersion(),
		Meter: meter, Logger: log.Named("reconcile"),
		TelemetryInterval: cfg.TelemetryInterval, HealthGrace: cfg.HealthGrace,
	})
	reconciled := make(chan error, 1)
	go func() { reconciled <- rec.Run(ctx) }()

	select {
	case err := <-reconciled: // only after ctx ended
		return err
	case err := <-served:
		cancel()
		<-reconciled
		return fmt.Errorf("http server: %w", err)
	}
}

// queueSize maps the max_queue setting (0: none wait) to
// httpapi.Config.MaxQueue (negative: none wait).
func queueSize(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
