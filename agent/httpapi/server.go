// Package httpapi is the agent's local HTTP API on :8987: predictions for
// on-site systems (POST /v1/predict, POST /upload), the /upload page for
// people, and what operators watch (GET /v1/model, /healthz, /metrics).
//
// Answers follow the Prediction JSON contract in DESIGN.md. Each
// prediction is {label, confidence, threshold, above_threshold}: threshold
// is the label's confidence threshold from the served package's manifest
// (thresholds.per_label, else thresholds.global) and above_threshold says
// whether confidence >= threshold. Errors are {"error": "...", "code":
// "..."} with a message that names the problem.
//
// Load is bounded: a predict/upload body is read whole before the request
// waits for a worker, at most MaxReading at once and at a minimum rate
// (504 code timeout for one too slow), so slow clients cannot hold the
// workers; then max_concurrent requests run at once, max_queue more wait
// in arrival order, and the rest get 429 code busy with Retry-After; 503
// code model_unavailable means no model is loaded (starting, or the
// plugin restarting); a request that takes longer than request_timeout,
// its body and wait included, gets 504 code timeout. With an API
// key set, every endpoint but the /upload page and /healthz needs it
// (401 code unauthorized otherwise).
package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/api"
)

// Defaults for Config's zero values.
const (
	DefaultMaxImageBytes  = api.MaxImageBytes
	DefaultMaxFiles       = 32
	DefaultMaxUploadBytes = 128 << 20
	DefaultMaxBodyBytes   = 256 << 20
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxQueue       = 64
)

// Config configures the API.
type Config struct {
	Runner *runner.Runner // required
	Logger *zap.Logger
	// Version is the agent's version, reported by /v1/model.
	Version        string
	MaxImageBytes  int64 // largest image, raw or one file part
	MaxFiles       int   // most file parts in one /upload
	MaxUploadBytes int64 // largest /upload body in all
	// RequestTimeout bounds one predict or upload request from its arrival,
	// the wait for a turn and the body included; past it: 504 timeout.
	RequestTimeout time.Duration
	// MaxConcurrent is how many POST /v1/predict and POST /upload requests
	// are handled at once once their bodies are read; default
	// 2×GOMAXPROCS. Up to MaxQueue more wait for a turn (0:
	// DefaultMaxQueue; negative: none wait); beyond that the answer is 429
	// busy (see limit).
	MaxConcurrent int
	MaxQueue      int
	// MaxReading is how many predict and upload bodies are read at once
	// (0: DefaultMaxReading); beyond that the answer is 429 busy. A body
	// must arrive at MinBodyRate bytes/s on average once BodyGrace has
	// passed (0: DefaultMinBodyRate, DefaultBodyGrace), else 504 timeout.
	MaxReading int
	// MaxBodyBytes bounds the bytes of the predict and upload bodies held
	// at once, read or being read, from their declared length (the size
	// limit when none is declared); beyond it the answer is 429 busy
	// (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	MinBodyRate  int64
	BodyGrace    time.Duration
	// APIKey, when set, is required by every endpoint but GET /upload (the
	// page, which asks for it), GET /healthz and GET /, as
	// "Authorization: Bearer KEY" or "X-API-Key: KEY"; else 401.
	APIKey string
}

// Server serves the API.
type Server struct {
	cfg     Config
	log     *zap.Logger
	run     *runner.Runner
	metrics *metrics
	engine  *gin.Engine
	reading chan struct{}       // one per predict/upload body being read
	bodies  *semaphore.Weighted // bytes of the bodies held (MaxBodyBytes)
	slots   chan struct{}       // one per predict/upload request being handled
	queue   chan struct{}       // one per predict/upload request waiting for a slot

	thresholds thresholdCache
}

// New returns the API server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = DefaultMaxImageBytes
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxReading <= 0 {
		cfg.MaxReading = DefaultMaxReading
	}
	if cfg.MinBodyRate <= 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	if cfg.BodyGrace <= 0 {
		cfg.BodyGrace = DefaultBodyGrace
	}
	switch {
	case cfg.MaxQueue == 0:
		cfg.MaxQueue = DefaultMaxQueue
	case cfg.MaxQueue < 0:
		cfg.MaxQueue = 0
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger, run: cfg.Runner, metrics: newMetrics(),
		reading: make(chan struct{}, cfg.MaxReading), bodies: semaphore.NewWeighted(cfg.MaxBodyBytes), slots: make(chan struct{}, cfg.MaxConcurrent), queue: make(chan struct{}, cfg.MaxQueue)}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	_ = e.SetTrustedProxies(nil) // the client address is the peer's
	e.Use(s.observe, s.recover)

	guarded := func(h ...gin.HandlerFunc) []gin.HandlerFunc {
		if cfg.APIKey == "" {
			return h
		}
		return append([]gin.HandlerFunc{s.requireKey}, h...)
	}
	e.POST("/v1/predict", guarded(s.limit, s.predict)...)
	e.GET("/v1/model", guarded(s.model)...)
	e.POST("/upload", guarded(s.limit, s.upload)...)
	e.GET("/upload", s.page)     // open: it asks for the key and sends it
	e.GET("/healthz", s.healthz) // open: for probes and service managers
	e.GET("/metrics", guarded(s.serveMetrics)...)
	e.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/upload") })
	e.NoRoute(func(c *gin.Context) {
		abort(c, newError(CodeNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path+
			" (the agent answers POST /v1/predict, POST /upload, GET /upload, GET /v1/model, GET /healthz, GET /metrics)"))
	})
	e.NoMethod(func(c *gin.Context) {
		abort(c, newError(CodeMethod, c.Request.Method+" is not allowed on "+c.Request.URL.Path))
	})
	s.engine = e
	return s
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Context keys set by handlers for the request log.
const ctxErrorCode = "autocv.error_code"

// observe logs each request and counts it by status code.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	s.metrics.request(status)
	level := zap.InfoLevel
	switch p := c.Request.URL.Path; {
	case status >= 500:
		level = zap.WarnLevel
	case p == "/healthz" || p == "/metrics":
		level = zap.DebugLevel // polled often
	}
	if ce := s.log.Check(level, "http request"); ce != nil {
		fields := []zap.Field{
			zap.String("method", c.Request.Method), zap.String("path", c.Request.URL.Path),
			zap.Int("status", status), zap.Duration("latency", time.Since(start)),
			zap.Int64("bytes_in", c.Request.ContentLength), zap.Int("bytes_out", c.Writer.Size()),
			zap.String("client", c.ClientIP()),
		}
		if code := c.GetString(ctxErrorCode); code != "" {
			fields = append(fields, zap.String("code", code))
		}
		ce.Write(fields...)
	}
}

// recover turns a panic in a handler into a 500 answer and a log line.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", zap.Any("panic", v), zap.String("path", c.Request.URL.Path), zap.Stack("stack"))
			abort(c, newError(CodeInternal, "internal error; the agent log has the details"))
		}
	}()
	c.Next()
}
