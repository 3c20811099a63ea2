package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/agent/reconcile"
	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/agent/service"
	"github.com/autocv/autocv/agent/session"
	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/fleet"
)

// runAgent runs `autocv-agent run`: the enrolled agent. It serves the HTTP
// API from the start (503 until a model is deployed), keeps the MQTT
// session and reconciles the desired state until a signal or the service
// manager stops it, or until a desired agent version was installed: then
// it restarts into the new binary (see selfUpdater.finish).
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
	log = log.With(zap.String("device", id.DeviceID))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := service.Start(service.Config{Stop: cancel, Logger: log.Named("service")})
	if err != nil {
		return err
	}
	upd := newSelfUpdater(log.Named("selfupdate"), cancel)
	upd.healthTimeout = cfg.AgentUpdateTimeout
	m := managed{cfg: cfg, sd: sd, id: id, key: key, keyPEM: keyPEM, pkgs: pkgs, log: log, svc: svc, upd: upd}
	err = m.run(ctx, cancel)
	return upd.finish(err, svc)
}

// managed is what `run` serves with once its configuration is loaded.
type managed struct {
	cfg    runConfig
	sd     *state.Dir
	id     state.Identity
	key    ed25519.PublicKey
	keyPEM []byte
	pkgs   *store.Store
	log    *zap.Logger
	svc    *service.Service
	upd    *selfUpdater
}

// run serves until ctx ends, then (its defers, last first) tells the
// service manager, lets the reconciler say "offline", closes the MQTT
// session, drains the HTTP server and stops the plugins.
func (m *managed) run(ctx context.Context, cancel context.CancelFunc) error {
	cfg, log := m.cfg, m.log
	defer log.Info("stopped")
	var env []string
	if cfg.ONNXRuntimeLib != "" {
		env = append(env, "ONNXRUNTIME_LIB="+cfg.ONNXRuntimeLib)
	}
	env = append(env, edgeDecodeBudget()...)
	choice, hc := choosePlugin(ctx, cfg.Plugin, host.Config{Binary: cfg.PluginBinary, Env: env, Logger: log.Named("plugin")}, true, log)
	run := runner.New(runner.Config{
		Host: hc, ExecutionProvider: choice.ExecutionProvider,
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
	m.svc.SetAlive(aliveCheck(ln.Addr()))
	defer shutdown(srv, cfg.ShutdownGrace, log)
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("state_dir", m.sd.Path))
	fmt.Printf("autocv-agent listening on %s (device %s)\n", ln.Addr(), m.id.DeviceID)

	sess, err := session.Open(session.Config{
		DeviceID: m.id.DeviceID, Broker: m.id.MQTT, Logger: log.Named("mqtt"),
		Will: reconcile.Reported(agentVersion(), choice.Plugin, fleet.StateOffline),
	})
	if err != nil {
		return err
	}
	defer sess.Close(time.Second) // after the reconciler said "offline"
	defer m.svc.Stopping()        // first: systemd and the SCM hear it before the drain
	m.svc.Status("connecting to the control plane's broker")

	fetcher := &transfer.Fetcher{
		Store: m.pkgs,
		MQTT: &transfer.MQTT{
			Publish: sess.Publish, Chunks: sess.Chunks(), NextConnect: sess.NextConnect, Connected: sess.Connected,
			Window: cfg.TransferWindow, Timeout: cfg.TransferTimeout, Logger: log.Named("transfer"),
		},
		HTTP:   &transfer.HTTP{Client: &http.Client{Timeout: 30 * time.Minute}, Logger: log.Named("transfer")},
		Logger: log.Named("transfer"),
	}
	rec := reconcile.New(reconcile.Config{
		State: m.sd, Store: m.pkgs, Session: sess, Fetcher: fetcher, Server: run,
		TrustKey: m.key, TrustPEM: m.keyPEM, Plugin: choice.Plugin, Providers: choice.Providers, AgentVersion: agentVersion(),
		Meter: meter, Logger: log.Named("reconcile"),
		TelemetryInterval: cfg.TelemetryInterval, HealthGrace: cfg.HealthGrace,
		UpdateAgent: m.upd.update, LastAgentUpdate: lastAgentUpdate(log), Trial: selfupdate.OnTrial(),
	})
	reconciled := make(chan error, 1)
	go func() { reconciled <- rec.Run(ctx) }()
	readyDone := make(chan struct{})
	go func() { defer close(readyDone); m.ready(ctx, rec, sess, ln.Addr()) }()
	defer func() { <-readyDone }() // ends with ctx, before the session closes

	select {
	case err := <-reconciled: // only after ctx ended
		return err
	case err := <-served:
		cancel()
		<-reconciled
		return fmt.Errorf("http server: %w", err)
	}
}

// ready waits until the agent is healthy and connected: HTTP up (it is),
// the deployed model (if any) serving again, and the MQTT session open.
// Then it tells the service manager (Ready) and, when this binary is a
// self-update on trial, the agent that started it (selfupdate.MarkReady).
func (m *managed) ready(ctx context.Context, rec *reconcile.Reconciler, sess *session.Session, addr net.Addr) {
	select {
	case <-ctx.Done():
		return
	case <-rec.Booted():
	}
	if err := rec.Healthy(); err != nil {
		m.log.Warn("not healthy after start; not reporting ready", zap.Error(err))
		m.svc.Status("not serving: " + err.Error())
		return // a later successful deployment does not make a trial binary good
	}
	for !sess.Connected() {
		next := sess.NextConnect()
		if sess.Connected() {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-next:
		}
	}
	m.svc.Ready(fmt.Sprintf("agent %s on %s, connected to the control plane", agentVersion(), addr))
	if err := selfupdate.MarkReady(agentVersion()); err != nil {
		m.log.Warn("could not report healthy to the agent that is updating to this binary", zap.Error(err))
	}
}

// lastAgentUpdate is the outcome of the last self-update of this binary,
// nil when it was never updated.
func lastAgentUpdate(log *zap.Logger) *selfupdate.Outcome {
	o, err := selfupdate.ReadOutcome("")
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("the last agent update's outcome is unreadable", zap.Error(err))
		}
		return nil
	}
	log.Info("last agent update", zap.String("result", o.Result), zap.String("to", o.ToVersion),
		zap.String("desired", o.Ref), zap.String("reason", o.Reason))
	return &o
}

// queueSize maps the max_queue setting (0: none wait) to
// httpapi.Config.MaxQueue (negative: none wait).
func queueSize(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
