package server

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/console"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/jobs"
)

// route is one API call: registered with gin and described in the OpenAPI
// document from the same table, so the two cannot drift apart.
type route struct {
	method, path string // gin path under /api/v1, e.g. /datasets/:id
	tag, summary string
	auth         string // "" (public), "user", "admin", "trainer", "apikey"
	body         string // request body kind: "", "json", "multipart", "binary"
	handlers     []gin.HandlerFunc
}

const (
	smallBody  = 1 << 20
	imageBody  = 64 << 20 // ≤ 10 images of ≤ 4 MB plus multipart overhead
	artifactMB = 4 << 30
)

func (s *Server) table() []route {
	user := s.authenticate(store.TokenSession, store.TokenAPIKey)
	trainer := s.authenticate(store.TokenTrainer)
	apikey := s.authenticate(store.TokenAPIKey, store.TokenSession)
	small := limitBody(smallBody)
	t := s.opt.RequestTimeout
	std := timeout(t)
	r := func(method, path, tag, summary, auth, body string, h ...gin.HandlerFunc) route {
		return route{method, path, tag, summary, auth, body, h}
	}
	return []route{
		r("POST", "/auth/login", "auth", "Log in: {username,password} → {token, csrf_token}, plus session cookies", "", "json", small, std, s.login),
		r("POST", "/auth/logout", "auth", "End the current session", "user", "", user, s.logout),
		r("GET", "/me", "auth", "The caller's account", "user", "", user, s.me),
		r("POST", "/me/password", "auth", "Change the caller's password {old_password,new_password}", "user", "json", small, user, std, s.changePassword),
		r("POST", "/users", "auth", "Create a user {username,password,admin} (admin)", "admin", "json", small, user, requireAdmin, std, s.createUser),
		r("GET", "/apikeys", "auth", "The caller's API keys", "user", "", user, std, s.listTokens(store.TokenAPIKey)),
		r("POST", "/apikeys", "auth", "Create an API key {name} → {id, key} (the key is shown once)", "user", "json", small, user, std, s.createToken(store.TokenAPIKey, prefixAPIKey)),
		r("DELETE", "/apikeys/:id", "auth", "Revoke an API key", "user", "", user, std, s.deleteToken),
		r("GET", "/trainer-tokens", "auth", "Trainer tokens (admin)", "admin", "", user, requireAdmin, std, s.listTokens(store.TokenTrainer)),
		r("POST", "/trainer-tokens", "auth", "Create a trainer token {name} → {token}, scoped to the job API (admin)", "admin", "json", small, user, requireAdmin, std, s.createToken(store.TokenTrainer, prefixTrainer)),
		r("DELETE", "/trainer-tokens/:id", "auth", "Revoke a trainer token (admin)", "admin", "", user, requireAdmin, std, s.deleteToken),

		r("POST", "/uploads", "datasets", "Start a resumable upload {size} → {id, offset}", "user", "json", small, user, std, s.createUpload),
		r("GET", "/uploads/:id", "datasets", "Where a resumable upload stands → {id, size, offset}", "user", "", user, std, s.getUpload),
		r("PATCH", "/uploads/:id", "datasets", "Append a chunk at header Upload-Offset → {offset}", "user", "binary", user, s.appendUpload),
		r("POST", "/datasets", "datasets", "Create a dataset from a zip: multipart name + file (or upload_id) → 202 {id, status}", "user", "multipart", user, s.createDataset),
		r("GET", "/datasets", "datasets", "List datasets (page, page_size)", "user", "", user, std, s.listDatasets),
		r("GET", "/datasets/:id", "datasets", "A dataset with labels and its import report", "user", "", user, std, s.getDataset),
		r("PATCH", "/datasets/:id", "datasets", "Rename {name}", "user", "json", small, user, std, s.renameDataset),
		r("DELETE", "/datasets/:id", "datasets", "Delete a dataset (409 while a queued or running job uses it)", "user", "", user, std, s.deleteDataset),
		r("POST", "/datasets/:id/zips", "datasets", "Append a zip (multipart file or upload_id) → 202", "user", "multipart", user, s.appendZip),
		r("POST", "/datasets/:id/labels/:label/images", "datasets", "Add images to a label (multipart file…)", "user", "multipart", user, limitBody(imageBody), std, s.addImages),
		r("GET", "/datasets/:id/labels/:label/images", "datasets", "A label's images, paged", "user", "", user, std, s.listImages),
		r("DELETE", "/datasets/:id/images/:image", "datasets", "Delete an image", "user", "", user, std, s.deleteImage),
		r("GET", "/images/:id", "datasets", "An image's bytes", "user", "", user, std, s.getImage),
		r("GET", "/images/:id/thumbnail", "datasets", "An image's thumbnail (JPEG, ≤ 160 px)", "user", "", user, std, s.getThumbnail),

		r("POST", "/models", "models", "Create a model {name, contact, description}", "user", "json", small, user, std, s.createModel),
		r("GET", "/models", "models", "List models with their versions", "user", "", user, std, s.listModels),
		r("GET", "/models/:id", "models", "A model and its versions", "user", "", user, std, s.getModel),
		r("DELETE", "/models/:id", "models", "Delete a model (409 while it trains or is published)", "user", "", user, std, s.deleteModel),
		r("POST", "/models/:id/versions", "models", "Train: {app_types, metric, data:[{dataset_id, labels}]} → [{version, status}]", "user", "json", small, user, std, s.createVersions),
		r("GET", "/models/:id/versions", "models", "A model's versions", "user", "", user, std, s.listVersions),
		r("GET", "/models/:id/versions/:v", "models", "A version: status, progress, error, publications", "user", "", user, std, s.getVersion),
		r("GET", "/models/:id/versions/:v/images", "models", "The frozen image list a version trained on, with each image's split", "user", "", user, std, s.versionImages),
		r("POST", "/models/:id/versions/:v/stop", "models", "Stop training", "user", "", user, std, s.stopVersion),
		r("GET", "/models/:id/versions/:v/report", "models", "The evaluation report (评估报告)", "user", "", user, std, s.getReport),
		r("GET", "/models/:id/versions/:v/package", "models", "The signed model package (tar.gz)", "user", "", user, s.getPackage),
		r("POST", "/models/:id/versions/:v/validation", "validation", "Start a validation service (校验) → {status}", "user", "", user, std, s.startValidation),
		r("GET", "/models/:id/versions/:v/validation", "validation", "Validation service state {status: starting|ready|failed}", "user", "", user, std, s.getValidation),
		r("POST", "/models/:id/versions/:v/validation/predict", "validation", "Classify ≤ 10 images (multipart file…) → results with top-5", "user", "multipart", user, limitBody(imageBody), timeout(2*t), s.predictValidation),
		r("POST", "/models/:id/versions/:v/sdk", "sdk", "Request an offline SDK {platform}", "user", "json", small, user, std, s.requestSDK),
		r("GET", "/models/:id/versions/:v/sdk/:platform", "sdk", "SDK build state {status: building|ready|failed}", "user", "", user, std, s.getSDK),
		r("GET", "/models/:id/versions/:v/sdk/:platform/download", "sdk", "The SDK zip", "user", "", user, s.downloadSDK),

		r("POST", "/services", "services", "Publish a cloud API {name, path, model_id, version}; online and loaded when it returns", "user", "json", small, user, timeout(2*t), s.createService),
		r("GET", "/services", "services", "List cloud services", "user", "", user, std, s.listServices),
		r("GET", "/services/:id", "services", "A service: status, statistics and its call document", "user", "", user, std, s.getService),
		r("PATCH", "/services/:id", "services", "Switch {online} or the {version} behind the path (no downtime)", "user", "json", small, user, timeout(2*t), s.updateService),
		r("DELETE", "/services/:id", "services", "Delete a cloud service", "user", "", user, std, s.deleteService),
		r("POST", "/infer/*path", "services", "Cloud inference with an API key: raw image body or multipart file… (?top_k=)", "apikey", "binary", apikey, limitBody(imageBody), timeout(t), s.infer),

		r("POST", "/enrollment-tokens", "devices", "Create an enrolment token {group, uses, expires_in} → {token} (admin)", "admin", "json", small, user, requireAdmin, std, s.createEnrollmentToken),
		r("GET", "/enrollment-tokens", "devices", "Enrolment tokens with uses left and expiry (admin; the secrets are never shown again)", "admin", "", user, requireAdmin, std, s.listEnrollmentTokens),
		r("DELETE", "/enrollment-tokens/:id", "devices", "Revoke an enrolment token (admin)", "admin", "", user, requireAdmin, std, s.deleteEnrollmentToken),
		r("POST", "/enroll", "devices", "Enrol a device {token, hostname|name, os, arch, agent_version}", "", "json", small, std, s.enroll),
		r("POST", strings.TrimPrefix(fleet.EnrollPath, "/api/v1"), "devices", "Enrol a device (the agent's path; same as /enroll)", "", "json", small, std, s.enroll),
		r("GET", "/devices", "devices", "Devices (?group=) with online, last_seen, reported and desired (admin)", "admin", "", user, requireAdmin, std, s.listDevices),
		r("GET", "/devices/:id", "devices", "One device (admin)", "admin", "", user, requireAdmin, std, s.getDevice),
		r("PUT", "/devices/:id/desired", "devices", "Set a device's desired model {model_id, version}; published retained over MQTT (admin)", "admin", "json", small, user, requireAdmin, std, s.setDesired),
		r("DELETE", "/devices/:id", "devices", "Remove a device (admin)", "admin", "", user, requireAdmin, std, s.deleteDevice),
		r("GET", "/device-packages/:sha", "devices", "A package a device was told to install, from the signed URL in its desired state (?device=&sig=)", "device", "", s.devicePackage),

		r("POST", strings.TrimPrefix(jobs.PathLease, "/api/v1"), "jobs", "Lease a training job (trainer token)", "trainer", "json", small, trainer, std, s.leaseJob),
		r("POST", "/jobs/:id/heartbeat", "jobs", "Renew a lease and report progress", "trainer", "json", small, trainer, std, s.heartbeat),
		r("GET", "/jobs/:id/images/:image", "jobs", "A job's image bytes", "trainer", "", trainer, std, s.jobImage),
		r("PUT", "/jobs/:id/artifacts/:name", "jobs", "Upload package.tar.gz or report.json", "trainer", "binary", trainer, limitBody(artifactMB), s.putArtifact),
		r("POST", "/jobs/:id/complete", "jobs", "Complete a job", "trainer", "json", small, trainer, timeout(5*t), s.completeJob),
		r("POST", "/jobs/:id/fail", "jobs", "Fail a job with an error", "trainer", "json", small, trainer, std, s.failJob),
	}
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(s.opt.TrustedProxies); err != nil {
		s.log.Error("--trusted-proxies", zap.Error(err)) // checked by the config already
	}
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	e.Use(s.requestID, s.recovery)
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, api.Health{Status: "ok"}) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", s.metrics)
	v1 := e.Group("/api/v1")
	tbl := s.table()
	for _, rt := range tbl {
		v1.Handle(rt.method, rt.path, rt.handlers...)
	}
	doc := openAPI(tbl)
	v1.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", doc) })
	ui := console.Handler()
	e.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			fail(c, api.CodeNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path+" (see /api/v1/openapi.json)")
			return
		}
		ui.ServeHTTP(c.Writer, c.Request)
	})
	e.NoMethod(func(c *gin.Context) {
		fail(c, api.CodeMethod, c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})
	return e
}

func (s *Server) recovery(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic in handler", zap.Any("panic", v), zap.String("path", c.Request.URL.Path))
			fail(c, api.CodeInternal, "internal error (request id "+c.GetString(requestIDKey)+")")
		}
	}()
	c.Next()
}

func (s *Server) ready(c *gin.Context) {
	if err := s.st.Ping(c.Request.Context()); err != nil {
		c.JSON(http.StatusServiceUnavailable, api.Health{Status: "database unavailable", Error: err.Error()})
		return
	}
	c.JSON(http.StatusOK, api.Health{Status: "ready"})
}
