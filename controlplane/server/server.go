// Package server is autocv-server's HTTP side: the REST API under /api/v1
// (accounts, datasets, models and training, reports, validation, cloud
// inference, SDK requests, devices), the job API trainer workers speak
// (protocol/jobs), the device enrolment call, and the embedded console.
//
// The server holds no state of its own beyond caches: metadata is in the
// store (SQLite or PostgreSQL), bytes are in the blob store (a folder or
// S3), so several replicas can run behind a load balancer. Background work
// that must survive a restart (imports, training jobs) is recorded in the
// store before the call that asked for it returns.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/bus"
	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/fleet"
	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// Options are the server's settings that are not its dependencies.
type Options struct {
	// DataDir holds uploads in progress, the signing key and caches.
	DataDir string
	// PublicURL is how devices and workers reach this server (enrolment
	// answers, package URLs); default http://<http-addr>.
	PublicURL string
	// MQTTURL is the broker address handed to enrolling devices.
	MQTTURL string
	// MaxUploadBytes caps a dataset zip (default 5 GiB).
	MaxUploadBytes int64
	// LeaseTTL is how long a job lease lasts without a heartbeat (default 60s).
	LeaseTTL time.Duration
	// MaxAttempts a job gets before it fails (default 3).
	MaxAttempts int
	// SessionTTL is how long a console login lasts (default 24h).
	SessionTTL time.Duration
	// ImportWorkers run imports at once (default 2).
	ImportWorkers int
	// RequestTimeout bounds ordinary API calls (uploads and inference are
	// bounded separately); default 30s.
	RequestTimeout time.Duration
	// MosquittoPasswordFile, when set, is an external Mosquitto's
	// password_file that the server keeps (see fleet.SyncPasswords), with
	// BrokerUsername/BrokerPassword as the control plane's own line and
	// MosquittoPIDFile to signal it.
	MosquittoPasswordFile          string
	MosquittoPIDFile               string
	BrokerUsername, BrokerPassword string
	// NoDeviceHTTP leaves the HTTP URL out of desired states, so devices
	// fetch packages over MQTT chunks only (for fleets that reach the
	// broker but not the server).
	NoDeviceHTTP bool
	// TrustedProxies are the proxies (IPs or CIDRs) whose X-Forwarded-For
	// names the client; none by default, so the connection's address
	// counts (login limits, logs).
	TrustedProxies []string
	// DecodeBudget bounds the decoded size (bytes) of the images this
	// process checks at once (added to datasets; default 256 MiB);
	// InferBudget that of the images in flight to the inference plugins
	// (default 512 MiB, the plugins' own decode budget). Beyond them a
	// request waits 2 s, then gets 429 busy.
	DecodeBudget, InferBudget int64
	// ReplicaID names this replica: of several, each rollout is driven by
	// one at a time (a lease in the database); default the host name.
	ReplicaID string
	// SDKDir holds per-platform runtime files for offline SDK zips
	// (<SDKDir>/<platform>/…); default <DataDir>/../sdk beside the binary.
	SDKDir string
}

func (o *Options) defaults() {
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 5 << 30
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 60 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 24 * time.Hour
	}
	if o.ImportWorkers <= 0 {
		o.ImportWorkers = 2
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.DecodeBudget <= 0 {
		o.DecodeBudget = 256 << 20
	}
	if o.InferBudget <= 0 {
		o.InferBudget = 512 << 20
	}
}

// Deps are the parts the server is built on; main wires them.
type Deps struct {
	Store store.Store
	Blobs blob.Store
	Infer *infer.Pool
	// Bus publishes desired state; nil when MQTT is off (tests of the REST
	// side alone).
	Bus *bus.Bus
	Log *zap.Logger
	Key ed25519.PrivateKey
}

// Server is the HTTP side of the control plane.
type Server struct {
	opt   Options
	st    store.Store
	blobs blob.Store
	pool  *infer.Pool
	log   *zap.Logger
	key   ed25519.PrivateKey
	pub   []byte // PEM of key's public half

	fleet *fleet.Fleet

	limiter *loginLimiter
	// decodeBudget and inferBudget admit image work by decoded size
	// (admission.go).
	decodeBudget, inferBudget *budget
	imports                   *dataset.Queue
	svcs                      *services
	// thresholdsCache: confidence thresholds of packages, for /infer
	thresholdsCache thresholdCache
	engine          *gin.Engine
	trainers        trainerWatch // workers heard from and their problems (status.go)

	ctx    context.Context // ends when Close is called
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the server and starts its background work (pending imports).
func New(opt Options, d Deps) (*Server, error) {
	opt.defaults()
	if opt.DataDir == "" {
		return nil, errors.New("server: no data dir")
	}
	for _, sub := range []string{"uploads", "cache"} {
		if err := os.MkdirAll(filepath.Join(opt.DataDir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	pub, err := modelpkg.MarshalPublicKey(d.Key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("server: signing key: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opt: opt, st: d.Store, blobs: d.Blobs, pool: d.Infer, log: d.Log, key: d.Key, pub: pub,
		limiter: newLoginLimiter(), decodeBudget: newBudget(opt.DecodeBudget), inferBudget: newBudget(opt.InferBudget),
		ctx: ctx, cancel: cancel}
	s.fleet = fleet.New(ctx, fleet.Config{Store: d.Store, Log: d.Log.Named("fleet"), PublicURL: opt.PublicURL,
		MQTTURL: opt.MQTTURL, SigningPublicKey: pub, URLKey: d.Key.Seed(), NoDeviceHTTP: opt.NoDeviceHTTP,
		PackageFile: s.packageFile, PackageSize: d.Blobs.Stat,
		PasswordFile: opt.MosquittoPasswordFile, PIDFile: opt.MosquittoPIDFile,
		BrokerUser: opt.BrokerUsername, BrokerPasswd: opt.BrokerPassword})
	if d.Bus != nil {
		s.fleet.SetBus(d.Bus)
	}
	s.imports = dataset.NewQueue(dataset.Config{Store: d.Store, Blobs: d.Blobs, Log: d.Log, DataDir: opt.DataDir,
		MaxZipBytes: opt.MaxUploadBytes, Imported: func(accepted, skipped int) {
			importedImages.WithLabelValues("accepted").Add(float64(accepted))
			importedImages.WithLabelValues("skipped").Add(float64(skipped))
		}})
	s.svcs = newServices(s)
	s.engine = s.routes()
	s.imports.Start(ctx, opt.ImportWorkers)

	s.wg.Add(3)
	go s.sweepUploads()
	go s.flushUsage()
	go s.sweepStops()
	return s, nil
}

// Fleet is the server's fleet side: the broker's device logins, the
// bus's transfers and reported states, and the desired states to
// republish at start go to it.
func (s *Server) Fleet() *fleet.Fleet { return s.fleet }

// Handler is the whole HTTP API and console.
func (s *Server) Handler() http.Handler { return s.engine }

// Start brings up what must be loaded before the server takes traffic:
// online cloud services are loaded into plugins.
// Rollouts are driven from here on: main calls Start after the bus is up
// and the stored desired states are republished, so a republish never
// overwrites a newer desired state a rollout just sent.
func (s *Server) Start(ctx context.Context) error {
	replica := s.opt.ReplicaID
	if replica == "" {
		replica, _ = os.Hostname()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.fleet.Drive(s.ctx, replica+"/"+newSecret("")[:8], time.Second)
	}()
	return s.svcs.loadAll(ctx)
}

// Close stops background work; imports in progress stay recorded and
// resume at the next start, service usage not stored yet is stored.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	s.imports.Wait()
}

// PublicKeyPEM is the package-signing public key (PEM).
func (s *Server) PublicKeyPEM() []byte { return s.pub }
