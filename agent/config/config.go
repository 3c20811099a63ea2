// Package config holds the settings of `autocv-agent serve` and reads them
// from, lowest precedence first: built-in defaults, an optional YAML config
// file, AUTOCV_* environment variables and command-line flags.
//
// Every setting has one name in each place: flag --trust-key, environment
// variable AUTOCV_TRUST_KEY, config key trust_key. The config file is
// decoded strictly: an unknown key is an error that names it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/inference"
)

// minAPIKey is the shortest API key accepted; a short key is guessable.
const minAPIKey = 8

// PluginAuto is the plugin setting that lets the agent pick: onnx-cuda
// when the onnxruntime library carries the CUDA provider (it runs on the
// GPU when one works, else on cpu), otherwise onnx-cpu.
const PluginAuto = "auto"

// ErrInvalid means a setting has a value the agent cannot use.
var ErrInvalid = errors.New("invalid setting")

// Serve is the configuration of `autocv-agent serve`.
type Serve struct {
	ConfigFile     string        // the YAML file these came from, if any
	Package        string        // model package (tar.gz) to serve
	Listen         string        // HTTP address, HOST:PORT
	TrustKey       string        // PEM ed25519 public key; "" = signing.pub beside Package
	Plugin         string        // auto, onnx-cpu or onnx-cuda
	PluginBinary   string        // "" = autocv-plugin-onnx beside the agent
	ONNXRuntimeLib string        // passed to the plugin as ONNXRUNTIME_LIB
	LogLevel       string        // debug, info, warn, error
	LogFormat      string        // console or json
	MaxImageBytes  int64         // largest image accepted
	MaxFiles       int           // most files in one /upload request
	MaxConcurrent  int           // predict/upload requests handled at once; 0 = twice the CPUs
	MaxQueue       int           // predict/upload requests waiting for a turn; more get 429
	RequestTimeout time.Duration // one predict/upload request, queue wait included
	APIKey         string        // when set, predict/upload/model/metrics need it
	ShutdownGrace  time.Duration // how long requests may finish on shutdown
}

// PluginUsage describes the plugin setting.
const PluginUsage = "inference plugin `NAME`: auto (onnx-cuda when the onnxruntime library carries CUDA, else onnx-cpu), onnx-cpu or onnx-cuda"

// Defaults returns the settings used when nothing else says otherwise.
func Defaults() Serve {
	return Serve{
		Listen:         DefaultListen,
		Plugin:         PluginAuto,
		LogLevel:       "info",
		LogFormat:      "console",
		MaxImageBytes:  api.MaxImageBytes,
		MaxFiles:       32,
		MaxQueue:       64,
		RequestTimeout: 30 * time.Second,
		ShutdownGrace:  10 * time.Second,
	}
}

// setting is one configurable value and its names.
type setting struct {
	key   string // config file key; flag is the same with '-' for '_'
	env   string // environment variable
	usage string
	set   func(*Serve, string) error
	get   func(*Serve) string
}

func (s setting) flagName() string { return strings.ReplaceAll(s.key, "_", "-") }

func str(f func(*Serve) *string) (func(*Serve, string) error, func(*Serve) string) {
	return func(c *Serve, v string) error { *f(c) = v; return nil },
		func(c *Serve) string { return *f(c) }
}

var settings = func() []setting {
	var out []setting
	add := func(key, env, usage string, set func(*Serve, string) error, get func(*Serve) string) {
		out = append(out, setting{key: key, env: env, usage: usage, set: set, get: get})
	}
	s, g := str(func(c *Serve) *string { return &c.Package })
	add("package", "AUTOCV_PACKAGE", "model package `FILE` (.tar.gz) to serve", s, g)
	s, g = str(func(c *Serve) *string { return &c.Listen })
	add("listen", "AUTOCV_LISTEN", "HTTP address `HOST:PORT`", s, g)
	s, g = str(func(c *Serve) *string { return &c.TrustKey })
	add("trust_key", "AUTOCV_TRUST_KEY", "PEM ed25519 public key `FILE` the package must be signed with (default: signing.pub beside the package)", s, g)
	s, g = str(func(c *Serve) *string { return &c.Plugin })
	add("plugin", "AUTOCV_PLUGIN", PluginUsage, s, g)
	s, g = str(func(c *Serve) *string { return &c.PluginBinary })
	add("plugin_binary", "AUTOCV_PLUGIN_BINARY", "plugin executable `PATH` (default: autocv-plugin-onnx beside autocv-agent)", s, g)
	s, g = str(func(c *Serve) *string { return &c.ONNXRuntimeLib })
	add("onnxruntime_lib", "ONNXRUNTIME_LIB", "onnxruntime library `PATH` for the plugin (default: beside the plugin)", s, g)
	s, g = str(func(c *Serve) *string { return &c.LogLevel })
	add("log_level", "AUTOCV_LOG_LEVEL", "log `LEVEL`: debug, info, warn or error", s, g)
	s, g = str(func(c *Serve) *string { return &c.LogFormat })
	add("log_format", "AUTOCV_LOG_FORMAT", "log `FORMAT`: console or json", s, g)
	add("max_image_bytes", "AUTOCV_MAX_IMAGE_BYTES", "largest image accepted, in `BYTES`",
		func(c *Serve, v string) (err error) { c.MaxImageBytes, err = strconv.ParseInt(v, 10, 64); return err },
		func(c *Serve) string { return strconv.FormatInt(c.MaxImageBytes, 10) })
	add("max_files", "AUTOCV_MAX_FILES", "most files (`N`) in one /upload request",
		func(c *Serve, v string) (err error) { c.MaxFiles, err = strconv.Atoi(v); return err },
		func(c *Serve) string { return strconv.Itoa(c.MaxFiles) })
	add("max_concurrent", "AUTOCV_MAX_CONCURRENT", "most predict and upload requests (`N`) handled at once (0: twice the CPU count)",
		func(c *Serve, v string) (err error) { c.MaxConcurrent, err = strconv.Atoi(v); return err },
		func(c *Serve) string { return strconv.Itoa(c.MaxConcurrent) })
	add("max_queue", "AUTOCV_MAX_QUEUE", "most predict and upload requests (`N`) waiting for a turn, in arrival order; more get 429 busy with Retry-After (0: none wait)",
		func(c *Serve, v string) (err error) { c.MaxQueue, err = strconv.Atoi(v); return err },
		func(c *Serve) string { return strconv.Itoa(c.MaxQueue) })
	add("request_timeout", "AUTOCV_REQUEST_TIMEOUT", "longest a predict or upload request may take (`DURATION`, e.g. 30s), waiting in the queue included; then 504 timeout",
		func(c *Serve, v string) (err error) { c.RequestTimeout, err = time.ParseDuration(v); return err },
		func(c *Serve) string { return c.RequestTimeout.String() })
	s, g = str(func(c *Serve) *string { return &c.APIKey })
	add("api_key", "AUTOCV_API_KEY", "API `KEY` that predict, upload, /v1/model and /metrics require (Authorization: Bearer KEY or X-API-Key: KEY); the /upload page and /healthz stay open; prefer AUTOCV_API_KEY or the config file, as other users can read command lines (default: none)", s, g)
	add("shutdown_grace", "AUTOCV_SHUTDOWN_GRACE", "how long (`DURATION`, e.g. 10s) running requests may finish on shutdown",
		func(c *Serve, v string) (err error) { c.ShutdownGrace, err = time.ParseDuration(v); return err },
		func(c *Serve) string { return c.ShutdownGrace.String() })
	return out
}()

// Load reads the serve settings from args (without the subcommand), the
// environment (getenv) and the config file named by --config or
// AUTOCV_CONFIG. It returns flag.ErrHelp after printing usage for -h.
func Load(args []string, getenv func(string) string, usage io.Writer) (Serve, error) {
	c := Defaults()
	fs := flag.NewFlagSet("autocv-agent serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	configFile := fs.String("config", "", "YAML config `FILE` with the settings below as keys (env AUTOCV_CONFIG)")
	values := make([]string, len(settings))
	for i, s := range settings {
		fs.StringVar(&values[i], s.flagName(), s.get(&c), fmt.Sprintf("%s (env %s, config key %s)", s.usage, s.env, s.key))
	}
	fs.Usage = func() {
		fmt.Fprintln(usage, "usage: autocv-agent serve --package FILE [--listen HOST:PORT] [--trust-key FILE] [flags]")
		fmt.Fprintln(usage, "Serves one model package on the local HTTP API (standalone mode, no control plane).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q (settings are flags, e.g. --package %s)", ErrInvalid, fs.Arg(0), fs.Arg(0))
	}

	c.ConfigFile = *configFile
	if c.ConfigFile == "" {
		c.ConfigFile = getenv("AUTOCV_CONFIG")
	}
	if c.ConfigFile != "" {
		if err := loadFile(&c, c.ConfigFile); err != nil {
			return c, err
		}
	}
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("%w: environment variable %s=%q: %v", ErrInvalid, s.env, v, err)
			}
		}
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		for i, s := range settings {
			if f.Name == s.flagName() && flagErr == nil {
				if err := s.set(&c, values[i]); err != nil {
					flagErr = fmt.Errorf("%w: --%s %q: %v", ErrInvalid, f.Name, values[i], err)
				}
			}
		}
	})
	if flagErr != nil {
		return c, flagErr
	}
	return c, c.Validate()
}

// Validate checks the settings that do not need the file system.
func (c *Serve) Validate() error {
	switch {
	case c.Package == "":
		return fmt.Errorf("%w: no model package: give one with --package FILE (or AUTOCV_PACKAGE, or package in the config file)", ErrInvalid)
	case c.Listen == "":
		return fmt.Errorf("%w: listen address is empty: give HOST:PORT, e.g. %s", ErrInvalid, DefaultListen)
	case c.MaxImageBytes < 1:
		return fmt.Errorf("%w: max_image_bytes must be at least 1, got %d", ErrInvalid, c.MaxImageBytes)
	case c.MaxFiles < 1:
		return fmt.Errorf("%w: max_files must be at least 1, got %d", ErrInvalid, c.MaxFiles)
	case c.MaxConcurrent < 0:
		return fmt.Errorf("%w: max_concurrent must be at least 1, or 0 for twice the CPU count; got %d", ErrInvalid, c.MaxConcurrent)
	case c.MaxQueue < 0:
		return fmt.Errorf("%w: max_queue must be 0 or more, got %d", ErrInvalid, c.MaxQueue)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("%w: request_timeout must be positive (e.g. 30s), got %s", ErrInvalid, c.RequestTimeout)
	case c.APIKey != "" && (len(c.APIKey) < minAPIKey || strings.TrimSpace(c.APIKey) != c.APIKey):
		return fmt.Errorf("%w: api_key must be at least %d characters with no spaces around it (e.g. the output of: openssl rand -hex 16)", ErrInvalid, minAPIKey)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("%w: shutdown_grace must not be negative, got %s", ErrInvalid, c.ShutdownGrace)
	}
	if _, ok := inference.ProviderFor(c.Plugin); !ok && c.Plugin != PluginAuto {
		return fmt.Errorf("%w: plugin %q: want %s, %s or %s", ErrInvalid, c.Plugin, PluginAuto, inference.NameONNXCPU, inference.NameONNXCUDA)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: log_level %q: want debug, info, warn or error", ErrInvalid, c.LogLevel)
	}
	switch c.LogFormat {
	case "console", "json":
	default:
		return fmt.Errorf("%w: log_format %q: want console or json", ErrInvalid, c.LogFormat)
	}
	return nil
}
