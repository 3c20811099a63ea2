package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/config"
	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/agent/service"
	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// serveHooks run once the agent serves, until ctx ends; builds for tests
// add some (see updatehook.go).
var serveHooks []func(ctx context.Context, log *zap.Logger, upd *selfUpdater)

// serve runs `autocv-agent serve`: standalone mode, one package, no
// control plane. It returns when a signal or the service manager asks it
// to stop, or with an error when the package cannot be served. After a
// self-update it restarts into the new binary instead (see selfUpdater).
func serve(args []string) error {
	cfg, err := config.Load(args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cfg.CheckPackage(); err != nil {
		return err
	}
	if abs, err := filepath.Abs(cfg.Package); err == nil {
		cfg.Package = abs
	}
	key, err := cfg.LoadTrustKey()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := service.Start(service.Config{Stop: cancel, Logger: log.Named("service")})
	if err != nil {
		return err
	}
	upd := newSelfUpdater(log.Named("selfupdate"), cancel)
	err = serveModel(ctx, cancel, cfg, key, log, svc, upd)
	return upd.finish(err, svc)
}

// serveModel serves until ctx ends, then drains the HTTP server and stops
// the plugin (its defers), in that order.
func serveModel(ctx context.Context, cancel context.CancelFunc, cfg config.Serve, key config.TrustKey,
	log *zap.Logger, svc *service.Service, upd *selfUpdater) error {
	defer log.Info("stopped")
	var env []string
	if cfg.ONNXRuntimeLib != "" {
		env = append(env, "ONNXRUNTIME_LIB="+cfg.ONNXRuntimeLib)
	}
	env = append(env, edgeDecodeBudget()...)
	choice, hc := choosePlugin(ctx, cfg.Plugin, host.Config{Binary: cfg.PluginBinary, Env: env, Logger: log.Named("plugin")}, false, log)
	run := runner.New(runner.Config{
		Package: runner.Package{Path: cfg.Package, TrustedKeys: [][]byte{key.PEM}},
		Host:    hc, ExecutionProvider: choice.ExecutionProvider,
		Logger: log.Named("runner"),
	})
	stopSignals := handleSignals(cancel, log, run.KillNow)
	defer stopSignals()
	defer run.Close() // after the HTTP server has drained (defers run last first)

	api := httpapi.New(httpapi.Config{
		Runner: run, Logger: log.Named("http"), Version: buildinfo.String(),
		MaxImageBytes: cfg.MaxImageBytes, MaxFiles: cfg.MaxFiles, MaxConcurrent: cfg.MaxConcurrent,
		MaxQueue: queueSetting(cfg.MaxQueue), RequestTimeout: cfg.RequestTimeout, APIKey: cfg.APIKey,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another agent running? pick another address with --listen HOST:PORT)", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	svc.SetAlive(aliveCheck(ln.Addr()))
	defer shutdown(srv, cfg.ShutdownGrace, log)
	defer svc.Stopping() // first: systemd and the SCM hear it before the drain

	addr := ln.Addr().String()
	log.Info("listening", zap.String("addr", addr), zap.String("package", cfg.Package),
		zap.String("trust_key", key.Path), zap.String("key_id", key.ID), zap.String("plugin", choice.Plugin),
		zap.Bool("api_key", cfg.APIKey != ""))
	fmt.Printf("autocv-agent listening on %s\n", addr)
	svc.Status("loading the model package " + cfg.Package)

	if err := run.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // a signal arrived while loading
		}
		return startError(cfg, key, err)
	}
	st, _ := run.Status()
	// Loading checked the signature and ran the golden samples (the
	// plugin's self-test): say so, the offline SDK's README promises it.
	fmt.Printf("autocv-agent package verified: signed by key %s, golden samples reproduced / 模型包已校验：签名有效，标准样本自检通过\n", key.ID)
	log.Info("serving", zap.String("addr", addr), zap.String("model", st.Model.ID), zap.Int("version", st.Model.Version),
		zap.String("plugin", st.Plugin.Kind), zap.String("provider", st.Model.ExecutionProvider))
	fmt.Printf("autocv-agent ready: model %s v%d — 打开 / open %s\n", st.Model.ID, st.Model.Version, pageURL(ln.Addr()))
	svc.Ready(fmt.Sprintf("serving model %s v%d on %s", st.Model.ID, st.Model.Version, addr))
	if err := selfupdate.MarkReady(buildinfo.String()); err != nil {
		log.Warn("could not report healthy to the agent that is updating to this binary", zap.Error(err))
	}
	for _, hook := range serveHooks {
		hook(ctx, log, upd)
	}

	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	}
}

// queueSetting maps the max_queue setting (0: none wait) to
// httpapi.Config.MaxQueue (0: the default; negative: none wait).
func queueSetting(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// aliveCheck is the systemd watchdog's check that the HTTP API still
// answers: any answer from /healthz will do (503 while a plugin restarts
// is the runner's business, not a reason to restart the agent).
func aliveCheck(a net.Addr) func(ctx context.Context) error {
	url := "http://" + loopbackHost(a) + "/healthz"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

// shutdown stops accepting requests and lets running ones finish within
// grace.
func shutdown(srv *http.Server, grace time.Duration, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("requests still running after the grace period were cut off", zap.Duration("grace", grace), zap.Error(err))
		_ = srv.Close()
	}
}

// startError explains why the package could not be served.
func startError(cfg config.Serve, key config.TrustKey, err error) error {
	switch {
	case errors.Is(err, inference.ErrBadPackage):
		return fmt.Errorf("模型包被拒绝 / model package rejected: %s\n  %w\n  "+
			"the package must be signed by the trusted key %s (key id %s); if it came from another trainer or "+
			"control plane, give that one's public key with --trust-key FILE", cfg.Package, err, key.Path, key.ID)
	case errors.Is(err, host.ErrStart):
		return fmt.Errorf("the inference plugin could not be started: %w\n  "+
			"autocv-plugin-onnx must be beside autocv-agent (or give it with --plugin-binary PATH), "+
			"with the onnxruntime library beside it (or ONNXRUNTIME_LIB)", err)
	}
	return fmt.Errorf("serving %s: %w", cfg.Package, err)
}

// pageURL is the /upload address to open in a browser on this machine.
func pageURL(a net.Addr) string { return "http://" + loopbackHost(a) + "/upload" }

// loopbackHost is HOST:PORT to reach a listener from this machine: the
// unspecified address (0.0.0.0, ::) becomes 127.0.0.1.
func loopbackHost(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// edgeDecodeBudget keeps the plugin's image decoding within an edge box's
// memory (inference.EdgeDecodeBudgetMB) unless the agent's own
// environment sets the budget.
func edgeDecodeBudget() []string {
	if os.Getenv(inference.DecodeBudgetEnv) != "" {
		return nil
	}
	return []string{fmt.Sprintf("%s=%d", inference.DecodeBudgetEnv, inference.EdgeDecodeBudgetMB)}
}
