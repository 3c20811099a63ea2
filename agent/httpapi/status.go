package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// ModelResponse answers GET /v1/model.
type ModelResponse struct {
	Model        ModelDetail  `json:"model"`
	Plugin       PluginDetail `json:"plugin"`
	Package      string       `json:"package"`
	LoadedAt     time.Time    `json:"loaded_at"`
	Restarts     uint64       `json:"plugin_restarts"`
	AgentVersion string       `json:"agent_version"`
	Limits       Limits       `json:"limits"`
	// Thresholds are the served package's confidence thresholds, as
	// applied to every prediction's above_threshold.
	Thresholds Thresholds `json:"thresholds"`
}

// Thresholds are confidence thresholds: a label's own, else Global.
type Thresholds struct {
	Global   float64            `json:"global"`
	PerLabel map[string]float64 `json:"per_label"`
}

// Limits are the request limits the agent enforces.
type Limits struct {
	MaxImageBytes  int64 `json:"max_image_bytes"`
	MaxFiles       int   `json:"max_files"`
	MaxUploadBytes int64 `json:"max_upload_bytes"`
	MaxConcurrent  int   `json:"max_concurrent"`
	MaxQueue       int   `json:"max_queue"`
	// MaxReading bodies are read at once, each at MinBodyRate bytes/s or
	// faster once BodyGraceMS has passed.
	MaxReading  int   `json:"max_reading"`
	MinBodyRate int64 `json:"min_body_rate"`
	BodyGraceMS int64 `json:"body_grace_ms"`
	// RequestTimeoutMS bounds one predict or upload request, queue included.
	RequestTimeoutMS int64 `json:"request_timeout_ms"`
}

// ModelDetail describes the model being served.
type ModelDetail struct {
	ID                string   `json:"id"`
	Version           int      `json:"version"`
	Labels            []string `json:"labels"`
	ExecutionProvider string   `json:"execution_provider"`
	ManifestSHA256    string   `json:"manifest_sha256"`
	LoadMS            float64  `json:"load_ms"`
}

// PluginDetail describes the plugin process serving it.
type PluginDetail struct {
	Name               string   `json:"name"`
	Pid                int      `json:"pid"`
	Version            string   `json:"version"`
	APIVersion         int      `json:"api_version"`
	Runtime            string   `json:"runtime"`
	ExecutionProviders []string `json:"execution_providers"`
}

// HealthResponse answers GET /healthz; Error and Code are set with 503.
type HealthResponse struct {
	Status    string    `json:"status"` // ok | unavailable
	Model     *ModelRef `json:"model,omitempty"`
	PluginPid int       `json:"plugin_pid,omitempty"`
	Error     string    `json:"error,omitempty"`
	Code      string    `json:"code,omitempty"`
}

// model answers GET /v1/model.
func (s *Server) model(c *gin.Context) {
	st, err := s.run.Status()
	if err != nil {
		abort(c, fromRunner(err))
		return
	}
	m, info := st.Model, st.Plugin
	th := s.thresholdsFor(m)
	perLabel := th.PerLabel
	if perLabel == nil {
		perLabel = map[string]float64{}
	}
	c.JSON(http.StatusOK, ModelResponse{
		Model: ModelDetail{
			ID: m.ID, Version: m.Version, Labels: m.Labels, ExecutionProvider: m.ExecutionProvider,
			ManifestSHA256: m.ManifestSHA256, LoadMS: millis(m.LoadTime),
		},
		Plugin: PluginDetail{
			Name: info.Kind, Pid: st.Pid, Version: info.Version, APIVersion: info.APIVersion,
			Runtime: info.RuntimeVersion, ExecutionProviders: info.ExecutionProviders,
		},
		Package: st.Package, LoadedAt: st.LoadedAt.UTC(), Restarts: st.Restarts, AgentVersion: s.cfg.Version,
		Limits: Limits{MaxImageBytes: s.cfg.MaxImageBytes, MaxFiles: s.cfg.MaxFiles, MaxUploadBytes: s.cfg.MaxUploadBytes,
			MaxConcurrent: s.cfg.MaxConcurrent, MaxQueue: s.cfg.MaxQueue, RequestTimeoutMS: s.cfg.RequestTimeout.Milliseconds(),
			MaxReading: s.cfg.MaxReading, MinBodyRate: s.cfg.MinBodyRate, BodyGraceMS: s.cfg.BodyGrace.Milliseconds()},
		Thresholds: Thresholds{Global: th.Global, PerLabel: perLabel},
	})
}

// healthz answers 200 when a model is loaded and the plugin answers its
// health check, 503 with the reason otherwise.
func (s *Server) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	st, err := s.run.Health(ctx)
	if err != nil {
		e := fromRunner(err)
		if e.Status() != http.StatusServiceUnavailable {
			e = newError(CodeUnavailable, err.Error())
		}
		c.Set(ctxErrorCode, string(e.Code))
		c.JSON(e.Status(), HealthResponse{Status: "unavailable", Error: e.Message, Code: string(e.Code)})
		return
	}
	ref := modelRef(st.Model)
	c.JSON(http.StatusOK, HealthResponse{Status: "ok", Model: &ref, PluginPid: st.Pid})
}
