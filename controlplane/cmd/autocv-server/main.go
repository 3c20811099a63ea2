// Command autocv-server is the AutoCV control plane: console, REST API, job
// queue, validation and cloud inference, device enrolment and the MQTT side
// of the fleet. On its embedded defaults it needs nothing but its data
// folder: SQLite, a local blob folder, an embedded MQTT broker and one
// local trainer process.
//
//	autocv-server --data-dir DIR --http-addr HOST:PORT --mqtt-addr HOST:PORT [--trainers N]
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/bus"
	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/server"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("autocv-server", buildinfo.String())
		return
	}
	args, scrubbing := os.Args[1:], len(os.Args) > 1 && os.Args[1] == "scrub"
	if scrubbing {
		args = args[1:]
	}
	cfg, err := load(args, os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "autocv-server:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if scrubbing {
		if err := scrub(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "autocv-server scrub:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, cfg, stop); err != nil {
		fmt.Fprintln(os.Stderr, "autocv-server:", err)
		os.Exit(1)
	}
}

// scrub (autocv-server scrub [the server's flags]) hashes every stored
// blob, reports the corrupt ones and quarantines them (a local store
// moves them to <blobs>/quarantine); it exits 1 when it found any.
func scrub(ctx context.Context, cfg config) error {
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	blobs, err := openBlobs(ctx, cfg, dataDir)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	bad := 0
	n, err := blob.Scrub(ctx, blobs, func(sha string, err error) {
		bad++
		fmt.Printf("CORRUPT %s: %v\n", sha, err)
	})
	fmt.Printf("%d blobs checked, %d corrupt\n", n, bad)
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d corrupt blobs (quarantined where the store allows)", bad)
	}
	return nil
}

func newLogger(level string) *zap.Logger {
	var lvl zapcore.Level
	_ = lvl.Set(level)
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.Sampling = nil
	log, err := zc.Build()
	if err != nil {
		return zap.NewNop()
	}
	return log
}

// run serves until ctx ends; stop releases the signal handler once a
// shutdown starts, so a second Ctrl-C kills the process at once.
func run(ctx context.Context, cfg config, stop func()) error {
	log := newLogger(cfg.LogLevel)
	defer log.Sync()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if cfg.Database == "" {
		cfg.Database = "sqlite:" + filepath.Join(dataDir, "autocv.db")
	}
	st, err := store.Open(ctx, cfg.Database, log.Named("store"))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	blobs, err := openBlobs(ctx, cfg, dataDir)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	keyPath := cfg.SigningKey
	if keyPath == "" {
		keyPath = filepath.Join(dataDir, "signing.key")
	}
	key, err := signingKey(keyPath, log)
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, st, os.Getenv("AUTOCV_ADMIN_PASSWORD")); err != nil {
		return err
	}
	pubPEM, _ := modelpkg.MarshalPublicKey(key.Public().(ed25519.PublicKey))
	var env []string
	if lib := os.Getenv("ONNXRUNTIME_LIB"); lib != "" {
		env = append(env, "ONNXRUNTIME_LIB="+lib)
	}
	pool := infer.New(infer.Config{PluginBinary: host.DefaultBinary(), Env: env, TrustedKeys: [][]byte{pubPEM},
		Threads: cfg.PluginThreads, Log: log.Named("infer"), IdleTimeout: cfg.IdleUnload})
	defer pool.Close()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	httpURL := "http://" + ln.Addr().String()
	if cfg.PublicURL == "" {
		cfg.PublicURL = httpURL
	}

	// MQTT: the embedded broker unless an external one is named.
	var broker *bus.Broker
	brokerURL, mqttUser, mqttPass := cfg.MQTTURL, cfg.MQTTUsername, cfg.MQTTPassword
	var srv *server.Server
	var ready atomic.Pointer[server.Server] // read by broker goroutines
	if brokerURL == "" && cfg.MQTTAddr != "off" && cfg.MQTTAddr != "" {
		mqttUser = "_autocv-cp-" + cfg.ReplicaID
		if mqttPass, err = bus.RandomPassword(); err != nil {
			return err
		}
		broker, err = bus.StartBroker(bus.BrokerConfig{Addr: cfg.MQTTAddr, InternalUsername: mqttUser, InternalPassword: mqttPass,
			DeviceLogin: func(u, p string) bool {
				s := ready.Load()
				return s != nil && s.Fleet().Login(u, p)
			}, Log: log.Named("broker")})
		if err != nil {
			return fmt.Errorf("--mqtt-addr: %w", err)
		}
		defer broker.Close()
		brokerURL = broker.URL()
	}
	mqttPublic := cfg.MQTTPublicURL
	if mqttPublic == "" {
		mqttPublic = brokerURL
	}
	srv, err = server.New(server.Options{DataDir: dataDir, PublicURL: cfg.PublicURL, MQTTURL: mqttPublic,
		MaxUploadBytes: cfg.MaxUploadBytes, LeaseTTL: cfg.LeaseTTL, SDKDir: sdkDir(cfg),
		MosquittoPasswordFile: cfg.MosquittoPasswd, MosquittoPIDFile: cfg.MosquittoPID,
		BrokerUsername: cfg.MQTTUsername, BrokerPassword: cfg.MQTTPassword, TrustedProxies: cfg.proxies(), NoDeviceHTTP: !cfg.DeviceHTTP,
		ReplicaID: cfg.ReplicaID},
		server.Deps{Store: st, Blobs: blobs, Infer: pool, Log: log, Key: key})
	if err != nil {
		return err
	}
	ready.Store(srv)
	defer srv.Close()
	if err := srv.Fleet().SyncPasswords(ctx); err != nil {
		return fmt.Errorf("--mosquitto-password-file: %w", err)
	}
	if brokerURL != "" {
		b, err := bus.Connect(ctx, bus.Config{URL: brokerURL, Username: mqttUser, Password: mqttPass,
			ClientID: "autocv-cp-" + cfg.ReplicaID, Log: log.Named("bus"), Transfer: srv.Fleet().Transfer,
			OnReported: srv.Fleet().OnReported, OnEvent: srv.Fleet().OnEvent})
		if err != nil {
			return fmt.Errorf("MQTT %s: %w", brokerURL, err)
		}
		defer b.Close()
		srv.Fleet().SetBus(b)
		if err := srv.Fleet().RepublishDesired(ctx); err != nil {
			log.Warn("republishing desired states", zap.Error(err))
		}
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: zap.NewStdLog(log.Named("http"))}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	trainers, err := startTrainers(ctx, cfg, st, httpURL, dataDir, log.Named("trainers"))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nAutoCV control plane %s\n  console  %s/\n  API      %s/api/v1 (OpenAPI: %s/api/v1/openapi.json)\n", buildinfo.String(), httpURL, httpURL, httpURL)
	if brokerURL != "" {
		fmt.Fprintf(os.Stderr, "  MQTT     %s\n", mqttPublic)
	}
	fmt.Fprintf(os.Stderr, "  trainers %d\n  data     %s\n\n", cfg.Trainers, dataDir)

	select {
	case <-ctx.Done():
		stop()
	case err := <-errc:
		trainers.stop(cfg.ShutdownTimeout)
		return fmt.Errorf("http: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	_ = hs.Shutdown(sctx)
	trainers.stop(cfg.ShutdownTimeout)
	return nil
}

func sdkDir(cfg config) string {
	if cfg.SDKDir != "" {
		return cfg.SDKDir
	}
	exe, err := os.Executable()
	if err != nil {
		return "sdk"
	}
	return filepath.Join(filepath.Dir(exe), "sdk")
}

func openBlobs(ctx context.Context, cfg config, dataDir string) (blob.Store, error) {
	if !strings.HasPrefix(cfg.Blobs, "s3://") {
		dir := cfg.Blobs
		if dir == "" {
			dir = filepath.Join(dataDir, "blobs")
		}
		return blob.NewLocal(dir)
	}
	rest := strings.TrimPrefix(cfg.Blobs, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	client, err := minio.New(cfg.S3Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, ""),
		Secure: !cfg.S3Insecure,
	})
	if err != nil {
		return nil, err
	}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("S3 bucket %s at %s: %w", bucket, cfg.S3Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("S3 bucket %s does not exist at %s; create it first", bucket, cfg.S3Endpoint)
	}
	return blob.NewS3(client, blob.S3Options{Bucket: bucket, Prefix: prefix})
}

// signingKey loads the package-signing key, creating it (and signing.pub
// beside it) on first start. Replicas must share it: point --signing-key
// at the same file (a secret mount) on each.
func signingKey(path string, log *zap.Logger) (ed25519.PrivateKey, error) {
	if k, err := modelpkg.ReadPrivateKey(path); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := modelpkg.WritePrivateKey(path, priv); err != nil {
		return nil, err
	}
	pubPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".pub"
	if err := modelpkg.WritePublicKey(pubPath, pub); err != nil {
		return nil, err
	}
	log.Info("created the package signing key", zap.String("path", path), zap.String("key_id", modelpkg.KeyID(pub)))
	return priv, nil
}
