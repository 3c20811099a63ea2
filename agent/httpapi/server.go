// Package httpapi is the agent's local HTTP API on :8987: predictions for
// on-site systems (POST /v1/predict, POST /upload), the /upload page for
// people, and what operators watch (GET /v1/model, /healthz, /metrics).
//
// Answers follow the Prediction JSON contract in DESIGN.md. Errors are
// {"error": "...", "code": "..."} with a message that names the problem.
package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/runner"
)

// Defaults for Config's zero values.
const (
	DefaultMaxImageBytes  = 8 << 20
	DefaultMaxFiles       = 32
	DefaultMaxUploadBytes = 128 << 20
	DefaultRequestTimeout = time.Minute
	DefaultBusyWait       = 2 * time.Second
)

// Config configures the API.
type Config struct {
	Runner *runner.Runner // required
	Logger *zap.Logger
	// Version is the agent's version, reported by /v1/model.
	Version        string
	MaxImageBytes  int64         // largest image, raw or one file part
	MaxFiles       int           // most file parts in one /upload
	MaxUploadBytes int64         // largest /upload body in all
	RequestTimeout time.Duration // one prediction call to the plugin
	// MaxConcurrent is how many POST /v1/predict and POST /upload requests
	// are handled at once, bodies included; default 2×GOMAXPROCS. Others
	// wait up to BusyWait for a turn, then get 503 busy (see limit).
	MaxConcurrent int
	BusyWait      time.Duration
}

// Server serves the API.
type Server struct {
	cfg     Config
	log     *zap.Logger
	run     *runner.Runner
	metrics *metrics
	engine  *gin.Engine
	slots   chan struct{} // one per predict/upload request being handled
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
	if cfg.BusyWait <= 0 {
		cfg.BusyWait = DefaultBusyWait
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger, run: cfg.Runner, metrics: newMetrics(), slots: make(chan struct{}, cfg.MaxConcurrent)}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	_ = e.SetTrustedProxies(nil) // the client address is the peer's
	e.Use(s.observe, s.recover)

	e.POST("/v1/predict", s.limit, s.predict)
	e.GET("/v1/model", s.model)
	e.POST("/upload", s.limit, s.upload)
	e.GET("/upload", s.page)
	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.serveMetrics)
	e.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/upload") })
	e.NoRoute(func(c *gin.Context) {
		abort(c, newError(http.StatusNotFound, CodeNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path+
			" (the agent answers POST /v1/predict, POST /upload, GET /upload, GET /v1/model, GET /healthz, GET /metrics)"))
	})
	e.NoMethod(func(c *gin.Context) {
		abort(c, newError(http.StatusMethodNotAllowed, CodeMethod, c.Request.Method+" is not allowed on "+c.Request.URL.Path))
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
			abort(c, newError(http.StatusInternalServerError, CodeInternal, "internal error; the agent log has the details"))
		}
	}()
	c.Next()
}
