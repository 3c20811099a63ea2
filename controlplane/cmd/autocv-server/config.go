package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// config is every setting of autocv-server. Each has a flag (--data-dir),
// an environment variable (AUTOCV_DATA_DIR) and a YAML key (data_dir) in
// the optional --config file; flags beat the environment, which beats the
// file, which beats the defaults. The YAML file is decoded strictly: an
// unknown key is an error.
type config struct {
	Config          string        `yaml:"-"`
	DataDir         string        `yaml:"data_dir"`
	HTTPAddr        string        `yaml:"http_addr"`
	PublicURL       string        `yaml:"public_url"`
	Database        string        `yaml:"database"`
	Blobs           string        `yaml:"blobs"`
	S3Endpoint      string        `yaml:"s3_endpoint"`
	S3AccessKey     string        `yaml:"s3_access_key"`
	S3SecretKey     string        `yaml:"s3_secret_key"`
	S3Insecure      bool          `yaml:"s3_insecure"`
	MQTTAddr        string        `yaml:"mqtt_addr"`
	MQTTURL         string        `yaml:"mqtt_url"`
	MQTTUsername    string        `yaml:"mqtt_username"`
	MQTTPassword    string        `yaml:"mqtt_password"`
	MQTTPublicURL   string        `yaml:"mqtt_public_url"`
	MosquittoPasswd string        `yaml:"mosquitto_password_file"`
	MosquittoPID    string        `yaml:"mosquitto_pid_file"`
	ReplicaID       string        `yaml:"replica_id"`
	SigningKey      string        `yaml:"signing_key"`
	TrustedProxies  string        `yaml:"trusted_proxies"`
	DeviceHTTP      bool          `yaml:"device_http_downloads"`
	Trainers        int           `yaml:"trainers"`
	TrainerDevice   string        `yaml:"trainer_device"`
	TrainerCacheDir string        `yaml:"trainer_cache_dir"`
	LeaseTTL        time.Duration `yaml:"lease_ttl"`
	MaxUploadBytes  int64         `yaml:"max_upload_bytes"`
	SDKDir          string        `yaml:"sdk_dir"`
	PluginThreads   int           `yaml:"plugin_threads"`
	IdleUnload      time.Duration `yaml:"idle_unload"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	LogLevel        string        `yaml:"log_level"`
}

func defaults() config {
	host, _ := os.Hostname()
	return config{
		DataDir: "autocv-data", HTTPAddr: "127.0.0.1:8080", MQTTAddr: "127.0.0.1:1883",
		Trainers: 1, TrainerDevice: "cpu", LeaseTTL: 60 * time.Second, MaxUploadBytes: 5 << 30,
		ReplicaID: host, DeviceHTTP: true, IdleUnload: 10 * time.Minute, ShutdownTimeout: 30 * time.Second, LogLevel: "info",
	}
}

type setting struct {
	key   string // yaml key; flag = key with '-', env = AUTOCV_ + upper
	usage string
	val   flag.Value
}

func (s setting) flagName() string { return strings.ReplaceAll(s.key, "_", "-") }
func (s setting) envName() string  { return "AUTOCV_" + strings.ToUpper(s.key) }

func settings(c *config) []setting {
	return []setting{
		{"data_dir", "`folder` for the database (SQLite), blobs, uploads, the signing key and caches", (*strValue)(&c.DataDir)},
		{"http_addr", "`HOST:PORT` of the console and API", (*strValue)(&c.HTTPAddr)},
		{"public_url", "`URL` devices and workers reach this server at (default http://HTTP_ADDR)", (*strValue)(&c.PublicURL)},
		{"database", "metadata `DSN`: sqlite:PATH (default DATA_DIR/autocv.db) or postgres://user:pass@host/db", (*strValue)(&c.Database)},
		{"blobs", "blob store: a `folder` (default DATA_DIR/blobs) or s3://BUCKET[/PREFIX/]", (*strValue)(&c.Blobs)},
		{"s3_endpoint", "S3 `HOST:PORT` for s3:// blobs", (*strValue)(&c.S3Endpoint)},
		{"s3_access_key", "S3 access `KEY`", (*strValue)(&c.S3AccessKey)},
		{"s3_secret_key", "S3 secret `KEY` (prefer the environment or the config file)", (*strValue)(&c.S3SecretKey)},
		{"s3_insecure", "talk plain HTTP to the S3 endpoint", (*boolValue)(&c.S3Insecure)},
		{"mqtt_addr", "`HOST:PORT` of the embedded MQTT broker; \"off\" for none (use --mqtt-url)", (*strValue)(&c.MQTTAddr)},
		{"mqtt_url", "external broker `URL` (tcp://host:1883); turns the embedded broker off", (*strValue)(&c.MQTTURL)},
		{"mqtt_username", "this server's `USER` on the external broker", (*strValue)(&c.MQTTUsername)},
		{"mqtt_password", "this server's `PASSWORD` on the external broker", (*strValue)(&c.MQTTPassword)},
		{"mqtt_public_url", "broker `URL` handed to enrolling devices (default the broker's own)", (*strValue)(&c.MQTTPublicURL)},
		{"mosquitto_password_file", "with --mqtt-url: the external Mosquitto's password_file `FILE`, kept by the server (devices and its own user)", (*strValue)(&c.MosquittoPasswd)},
		{"mosquitto_pid_file", "with --mosquitto-password-file: Mosquitto's pid_file `FILE`; it gets SIGHUP to reread the passwords", (*strValue)(&c.MosquittoPID)},
		{"device_http_downloads", "give devices an HTTP URL for packages besides MQTT chunks (false: MQTT only, for devices that reach only the broker)", (*boolValue)(&c.DeviceHTTP)},
		{"trusted_proxies", "comma-separated `IPs/CIDRs` of reverse proxies whose X-Forwarded-For names the client (default none)", (*strValue)(&c.TrustedProxies)},
		{"signing_key", "package-signing key `FILE` (ed25519 PEM; made on first start; default DATA_DIR/signing.key); replicas must share one", (*strValue)(&c.SigningKey)},
		{"replica_id", "stable `NAME` of this replica (its MQTT client id)", (*strValue)(&c.ReplicaID)},
		{"trainers", "`N` autocv-trainer worker processes to start beside the server (0: none)", (*intValue)(&c.Trainers)},
		{"trainer_device", "--device of the local trainers: cpu, cuda or auto", (*strValue)(&c.TrainerDevice)},
		{"trainer_cache_dir", "feature cache `folder` of the local trainers (default DATA_DIR/cache/features)", (*strValue)(&c.TrainerCacheDir)},
		{"lease_ttl", "how long a training job's lease lasts without a heartbeat", (*durValue)(&c.LeaseTTL)},
		{"max_upload_bytes", "largest dataset zip in `BYTES`", (*int64Value)(&c.MaxUploadBytes)},
		{"sdk_dir", "`folder` with per-platform runtime files for offline SDKs (default BINARY_DIR/sdk)", (*strValue)(&c.SDKDir)},
		{"plugin_threads", "intra-op threads per loaded model (0: plugin default)", (*intValue)(&c.PluginThreads)},
		{"idle_unload", "unload validation services idle this long", (*durValue)(&c.IdleUnload)},
		{"shutdown_timeout", "how long a graceful shutdown waits for requests and trainers", (*durValue)(&c.ShutdownTimeout)},
		{"log_level", "debug, info, warn or error", (*strValue)(&c.LogLevel)},
	}
}

// load reads defaults, then the --config file, then the environment, then
// the flags, and checks the result.
func load(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	c := defaults()
	fs := flag.NewFlagSet("autocv-server", flag.ContinueOnError)
	fs.SetOutput(usage)
	ss := settings(&c)
	fs.StringVar(&c.Config, "config", getenv("AUTOCV_CONFIG"), "YAML config `FILE` (keys as the flags, with '_' for '-')")
	for _, s := range ss {
		fs.Var(s.val, s.flagName(), s.usage+" [$"+s.envName()+"]")
	}
	// First pass only to find --config.
	pre := flag.NewFlagSet("", flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	cfgPath := pre.String("config", getenv("AUTOCV_CONFIG"), "")
	for _, s := range ss {
		_, isBool := s.val.(*boolValue)
		pre.Var(&discard{isBool}, s.flagName(), "")
	}
	_ = pre.Parse(args)
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config file %s: %w", *cfgPath, err)
		}
	}
	for _, s := range ss {
		if v := getenv(s.envName()); v != "" {
			if err := s.val.Set(v); err != nil {
				return c, fmt.Errorf("$%s: %w", s.envName(), err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.validate()
}

func (c *config) validate() error {
	if c.DataDir == "" {
		return errors.New("--data-dir is empty")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("--http-addr %q: %v", c.HTTPAddr, err)
	}
	if c.MQTTAddr != "off" && c.MQTTAddr != "" && c.MQTTURL == "" {
		if _, _, err := net.SplitHostPort(c.MQTTAddr); err != nil {
			return fmt.Errorf("--mqtt-addr %q: %v", c.MQTTAddr, err)
		}
	}
	for _, u := range []struct{ name, v string }{{"--public-url", c.PublicURL}, {"--mqtt-url", c.MQTTURL}, {"--mqtt-public-url", c.MQTTPublicURL}} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || p.Scheme == "" || p.Host == "" {
			return fmt.Errorf("%s %q is not an absolute URL", u.name, u.v)
		}
	}
	switch {
	case c.Trainers < 0 || c.Trainers > 64:
		return fmt.Errorf("--trainers %d: want 0–64", c.Trainers)
	case c.TrainerDevice != "cpu" && c.TrainerDevice != "cuda" && c.TrainerDevice != "auto":
		return fmt.Errorf("--trainer-device %q: want cpu, cuda or auto", c.TrainerDevice)
	case c.LeaseTTL < 5*time.Second:
		return fmt.Errorf("--lease-ttl %s: at least 5s", c.LeaseTTL)
	case c.MaxUploadBytes < 1<<20:
		return fmt.Errorf("--max-upload-bytes %d: at least 1 MiB", c.MaxUploadBytes)
	case c.PluginThreads < 0:
		return errors.New("--plugin-threads must be ≥ 0")
	}
	if c.MosquittoPasswd != "" && (c.MQTTURL == "" || c.MQTTUsername == "" || c.MQTTPassword == "") {
		return errors.New("--mosquitto-password-file needs --mqtt-url, --mqtt-username and --mqtt-password (the server writes its own user into the file)")
	}
	if c.Blobs != "" && strings.HasPrefix(c.Blobs, "s3://") && c.S3Endpoint == "" {
		return errors.New("s3:// blobs need --s3-endpoint")
	}
	for _, p := range c.proxies() {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return fmt.Errorf("--trusted-proxies: %q is not an IP or CIDR", p)
			}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

type strValue string

func (v *strValue) Set(s string) error { *v = strValue(s); return nil }
func (v *strValue) String() string     { return string(*v) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolValue(b)
	return err
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	*v = intValue(n)
	return err
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type int64Value int64

func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	*v = int64Value(n)
	return err
}
func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }

type durValue time.Duration

func (v *durValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	*v = durValue(d)
	return err
}
func (v *durValue) String() string { return time.Duration(*v).String() }

// discard swallows flags in the pass that only looks for --config.
type discard struct{ isBool bool }

func (*discard) Set(string) error   { return nil }
func (*discard) String() string     { return "" }
func (d *discard) IsBoolFlag() bool { return d.isBool }

func (c *config) proxies() []string {
	var out []string
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
