package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/autocv/autocv/agent/config"
	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
)

// runConfig is the configuration of `autocv-agent run`. The HTTP, plugin
// and log settings are serve's (config.Serve, same flags and variables).
type runConfig struct {
	config.Serve
	StateDir          string
	MaxStoreBytes     int64 // 0 = no limit but the disk
	TransferWindow    int
	TransferTimeout   time.Duration
	TelemetryInterval time.Duration
	HealthGrace       time.Duration
	// AgentUpdateTimeout is how long a new agent binary has to become
	// healthy before the old one is restored.
	AgentUpdateTimeout time.Duration
}

// loadRunConfig reads run's flags; each has an AUTOCV_* variable, which
// the flag overrides. It returns flag.ErrHelp after printing usage for -h.
func loadRunConfig(args []string, getenv func(string) string, usage io.Writer) (runConfig, error) {
	c := runConfig{Serve: config.Defaults(), StateDir: state.DefaultDir(), TransferWindow: transfer.DefaultWindow,
		TransferTimeout: transfer.DefaultTimeout, TelemetryInterval: time.Minute, HealthGrace: 10 * time.Second,
		AgentUpdateTimeout: selfupdate.DefaultHealthTimeout}
	fs := flag.NewFlagSet("autocv-agent run", flag.ContinueOnError)
	fs.SetOutput(usage)
	env := map[string]string{}
	str := func(p *string, name, envName, help string) {
		fs.StringVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, envName))
		env[name] = envName
	}
	num := func(p *int64, name, envName, help string) {
		fs.Int64Var(p, name, *p, fmt.Sprintf("%s (env %s)", help, envName))
		env[name] = envName
	}
	small := func(p *int, name, envName, help string) {
		fs.IntVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, envName))
		env[name] = envName
	}
	dur := func(p *time.Duration, name, envName, help string) {
		fs.DurationVar(p, name, *p, fmt.Sprintf("%s (env %s)", help, envName))
		env[name] = envName
	}
	str(&c.StateDir, "state-dir", "AUTOCV_STATE_DIR", "state `DIR` written by autocv-agent enroll")
	str(&c.Listen, "listen", "AUTOCV_LISTEN", "HTTP address `HOST:PORT`")
	str(&c.Plugin, "plugin", "AUTOCV_PLUGIN", config.PluginUsage)
	str(&c.PluginBinary, "plugin-binary", "AUTOCV_PLUGIN_BINARY", "plugin executable `PATH` (default: autocv-plugin-onnx beside autocv-agent)")
	str(&c.ONNXRuntimeLib, "onnxruntime-lib", "ONNXRUNTIME_LIB", "onnxruntime library `PATH` for the plugin")
	str(&c.LogLevel, "log-level", "AUTOCV_LOG_LEVEL", "log `LEVEL`: debug, info, warn or error")
	str(&c.LogFormat, "log-format", "AUTOCV_LOG_FORMAT", "log `FORMAT`: console or json")
	num(&c.MaxImageBytes, "max-image-bytes", "AUTOCV_MAX_IMAGE_BYTES", "largest image accepted, in `BYTES`")
	small(&c.MaxFiles, "max-files", "AUTOCV_MAX_FILES", "most files (`N`) in one /upload request")
	small(&c.MaxConcurrent, "max-concurrent", "AUTOCV_MAX_CONCURRENT", "predict and upload requests (`N`) handled at once (0: twice the CPU count)")
	small(&c.MaxQueue, "max-queue", "AUTOCV_MAX_QUEUE", "predict and upload requests (`N`) waiting for a turn; more get 429 busy (0: none wait)")
	dur(&c.RequestTimeout, "request-timeout", "AUTOCV_REQUEST_TIMEOUT", "longest a predict or upload request may take, queue wait included")
	str(&c.APIKey, "api-key", "AUTOCV_API_KEY", "API `KEY` that predict, upload, /v1/model and /metrics require (default: none)")
	dur(&c.ShutdownGrace, "shutdown-grace", "AUTOCV_SHUTDOWN_GRACE", "how long running requests may finish on shutdown")
	num(&c.MaxStoreBytes, "max-store-bytes", "AUTOCV_MAX_STORE_BYTES", "most `BYTES` the package store may use (0: as much as the disk has)")
	small(&c.TransferWindow, "transfer-window", "AUTOCV_TRANSFER_WINDOW", fmt.Sprintf("chunks (`N`, 1..%d) asked for at once in an MQTT transfer", fleet.MaxWindow))
	dur(&c.TransferTimeout, "transfer-timeout", "AUTOCV_TRANSFER_TIMEOUT", "wait this long for a chunk before asking again")
	dur(&c.TelemetryInterval, "telemetry-interval", "AUTOCV_TELEMETRY_INTERVAL", "time between telemetry samples")
	dur(&c.HealthGrace, "health-grace", "AUTOCV_HEALTH_GRACE", "how long a newly swapped model has to pass its health check before the previous one is put back")
	dur(&c.AgentUpdateTimeout, "agent-update-timeout", "AUTOCV_AGENT_UPDATE_TIMEOUT", "how long a new agent binary has to become healthy (serving, connected) before the old one is restored")
	fs.Usage = func() {
		fmt.Fprintln(usage, "usage: autocv-agent run [--state-dir DIR] [--listen HOST:PORT] [flags]")
		fmt.Fprintln(usage, "Runs the enrolled agent: MQTT session with the control plane, model deployments, HTTP API.")
		fs.PrintDefaults()
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(env[f.Name]); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("environment variable %s=%q: %v", env[f.Name], v, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("run: unexpected argument %q (settings are flags)", fs.Arg(0))
	}
	return c, c.validate()
}

func (c *runConfig) validate() error {
	// The HTTP, plugin and log settings follow serve's rules; run has no
	// package setting (packages come from the control plane).
	serve := c.Serve
	serve.Package = "(run mode)"
	if err := serve.Validate(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	switch {
	case c.StateDir == "":
		return errors.New("run: --state-dir is empty")
	case c.MaxStoreBytes < 0:
		return fmt.Errorf("run: --max-store-bytes must not be negative, got %d", c.MaxStoreBytes)
	case c.TransferWindow < 1 || c.TransferWindow > fleet.MaxWindow:
		return fmt.Errorf("run: --transfer-window must be in [1, %d], got %d", fleet.MaxWindow, c.TransferWindow)
	case c.TransferTimeout <= 0 || c.TelemetryInterval <= 0 || c.HealthGrace <= 0 || c.AgentUpdateTimeout <= 0:
		return errors.New("run: --transfer-timeout, --telemetry-interval, --health-grace and --agent-update-timeout must be positive")
	}
	return nil
}
