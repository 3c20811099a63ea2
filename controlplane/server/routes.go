package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/console"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
)

// route is one API call: registered with gin and described in the OpenAPI
// document from the same table, so the two cannot drift apart. Its
// request and answer are protocol/api types; errs are the codes its
// handler answers beyond those its middleware and path imply (see
// route.codes); TestRouteCodes checks them against the handler's source.
type route struct {
	method, path string // gin path under /api/v1, e.g. /datasets/:id
	tag, summary string
	auth         string // "" (public), "user", "admin", "trainer", "apikey", "device"
	body         string // request body kind: "", "json", "multipart", "binary", "image"
	in, query    any    // request body (json, multipart) or header (binary) type; query parameters
	status       int    // success status
	also         []int  // other success statuses, without a body
	out          any    // JSON answer; nil: none, or a file of type ctype
	ctype        string
	errs         []api.Code
	handlers     []gin.HandlerFunc
}

func (r route) json(in any) route        { r.body, r.in = "json", in; return r }
func (r route) form(in any) route        { r.body, r.in = "multipart", in; return r }
func (r route) bytes(header any) route   { r.body, r.in = "binary", header; return r }
func (r route) image() route             { r.body, r.in = "image", &api.ImagesForm{}; return r }
func (r route) params(q any) route       { r.query = q; return r }
func (r route) ok(st int, out any) route { r.status, r.out = st, out; return r }
func (r route) or(st int) route          { r.also = append(r.also, st); return r }
func (r route) file(ctype string) route  { r.status, r.ctype = http.StatusOK, ctype; return r }
func (r route) fails(c ...api.Code) route {
	r.errs = append(r.errs, c...)
	return r
}

const (
	smallBody  = 1 << 20
	imageBody  = 64 << 20 // ≤ 10 images of ≤ 4 MB plus multipart overhead
	artifactMB = 4 << 30
)

// predictCodes are what a prediction endpoint may answer besides its
// route's own codes, the agent's alike.
var predictCodes = []api.Code{api.CodeEmptyBody, api.CodeNotAnImage, api.CodeUnsupportedFormat, api.CodeCorrupt,
	api.CodeTooLarge, api.CodeTooManyFiles, api.CodeNoFiles, api.CodeBadForm, api.CodeBadTopK, api.CodeBadThreshold,
	api.CodeBadRequest, api.CodeBusy, api.CodeUnavailable, api.CodeTimeout, api.CodeInference}

func (s *Server) table() []route {
	user := s.authenticate(api.ScopeFull, store.TokenSession, store.TokenAPIKey)
	keys := s.authenticate(api.ScopeKeys, store.TokenSession, store.TokenAPIKey) // credentials: keys, tokens, users, password
	trainer := s.authenticate("", store.TokenTrainer)
	apikey := s.authenticate(api.ScopeInfer, store.TokenAPIKey, store.TokenSession)
	small := limitBody(smallBody)
	t := s.opt.RequestTimeout
	std := timeout(t)
	r := func(method, path, tag, summary, auth string, h ...gin.HandlerFunc) route {
		return route{method: method, path: path, tag: tag, summary: summary, auth: auth, status: http.StatusNoContent, handlers: h}
	}
	const (
		OK       = http.StatusOK
		Created  = http.StatusCreated
		Accepted = http.StatusAccepted
	)
	pages := &api.PageQuery{}
	return []route{
		r("POST", "/auth/login", "auth", "Log in: a console session token, CSRF token and cookies", "", small, std, s.login).
			json(&api.LoginRequest{}).ok(OK, &api.LoginResponse{}).fails(api.CodeInvalid, api.CodeRateLimited, api.CodeBadCredentials),
		r("POST", "/auth/logout", "auth", "End the current session", "user", user, s.logout),
		r("GET", "/me", "auth", "The caller's account", "user", user, s.me).ok(OK, &api.User{}),
		r("GET", "/status", "auth", "What keeps the system from working: trainers heard from and their problems, with what to do", "user", user, std, s.status).ok(OK, &api.Status{}),
		r("POST", "/me/password", "auth", "Change the caller's password (other sessions end)", "user", small, keys, std, s.changePassword).
			json(&api.PasswordRequest{}).fails(api.CodeWrongPassword, api.CodeInvalid),
		r("POST", "/users", "auth", "Create a user (admin, console session)", "admin", small, keys, requireAdmin, requireSession, std, s.createUser).
			json(&api.CreateUserRequest{}).ok(Created, &api.User{}).fails(api.CodeInvalid, api.CodeConflict),
		r("GET", "/apikeys", "auth", "The caller's API keys", "user", keys, std, s.listTokens(store.TokenAPIKey)).ok(OK, &api.TokenList{}),
		r("POST", "/apikeys", "auth", "Create an API key (the key is shown once); scopes default to infer", "user", small, keys, std, s.createToken(store.TokenAPIKey, prefixAPIKey)).
			json(&api.TokenRequest{}).ok(Created, &api.Token{}).fails(api.CodeInvalid),
		r("DELETE", "/apikeys/:id", "auth", "Revoke an API key", "user", keys, std, s.deleteToken(store.TokenAPIKey)),
		r("GET", "/trainer-tokens", "auth", "Trainer tokens (admin)", "admin", keys, requireAdmin, std, s.listTokens(store.TokenTrainer)).ok(OK, &api.TokenList{}),
		r("POST", "/trainer-tokens", "auth", "Create a trainer token, scoped to the job API (admin)", "admin", small, keys, requireAdmin, std, s.createToken(store.TokenTrainer, prefixTrainer)).
			json(&api.TokenRequest{}).ok(Created, &api.Token{}).fails(api.CodeInvalid),
		r("DELETE", "/trainer-tokens/:id", "auth", "Revoke a trainer token (admin)", "admin", keys, requireAdmin, std, s.deleteToken(store.TokenTrainer)),

		r("POST", "/uploads", "datasets", "Start a resumable upload", "user", small, user, std, s.createUpload).
			json(&api.CreateUploadRequest{}).ok(Created, &api.Upload{}).fails(api.CodeInvalidSize),
		r("GET", "/uploads/:id", "datasets", "Where a resumable upload stands", "user", user, std, s.getUpload).ok(OK, &api.Upload{}),
		r("PATCH", "/uploads/:id", "datasets", "Append a chunk at header Upload-Offset", "user", user, s.appendUpload).
			bytes(&api.UploadChunk{}).ok(OK, &api.Upload{}).fails(api.CodeOffsetMismatch, api.CodeTooLarge, api.CodeUploadFailed),
		r("POST", "/datasets", "datasets", "Create a dataset from a zip (one folder per label); imported in the background", "user", user, s.createDataset).
			form(&api.DatasetForm{}).ok(Accepted, &api.Dataset{}).fails(zipCodes...).fails(api.CodeInvalidName),
		r("GET", "/datasets", "datasets", "List datasets", "user", user, std, s.listDatasets).params(pages).ok(OK, &api.DatasetList{}).fails(api.CodeInvalid),
		r("GET", "/datasets/:id", "datasets", "A dataset with labels, its import report and progress", "user", user, std, s.getDataset).ok(OK, &api.Dataset{}),
		r("PATCH", "/datasets/:id", "datasets", "Rename a dataset", "user", small, user, std, s.renameDataset).
			json(&api.RenameRequest{}).ok(OK, &api.Dataset{}).fails(api.CodeInvalidName, api.CodeConflict),
		r("DELETE", "/datasets/:id", "datasets", "Delete a dataset (refused while a queued or running job uses it)", "user", user, std, s.deleteDataset).fails(api.CodeInUse, api.CodeConflict),
		r("POST", "/datasets/:id/zips", "datasets", "Append a zip; imported in the background", "user", user, s.appendZip).
			form(&api.DatasetForm{}).ok(Accepted, &api.Dataset{}).fails(zipCodes...).fails(api.CodeImporting),
		r("POST", "/datasets/:id/labels/:label/images", "datasets", "Add images to a label", "user", user, limitBody(imageBody), std, s.addImages).
			form(&api.ImagesForm{}).ok(Created, &api.AddImagesResponse{}).
			fails(api.CodeImporting, api.CodeBadLabel, api.CodeTooManyLabels, api.CodeTooManyFiles, api.CodeInvalidMultipart, api.CodeMissingFile, api.CodeTooLarge, api.CodeBusy, api.CodeTimeout, api.CodeConflict),
		r("GET", "/datasets/:id/labels/:label/images", "datasets", "A label's images, paged", "user", user, std, s.listImages).params(pages).ok(OK, &api.ImageList{}).fails(api.CodeInvalid),
		r("DELETE", "/datasets/:id/images/:image", "datasets", "Delete an image", "user", user, std, s.deleteImage).fails(api.CodeImporting, api.CodeConflict),
		r("PATCH", "/datasets/:id/images/:image", "datasets", "Move an image to another label of the dataset", "user", small, user, std, s.moveImage).
			json(&api.MoveImageRequest{}).ok(OK, &api.Image{}).fails(labelCodes...),
		r("PATCH", "/datasets/:id/labels/:label", "datasets", "Rename a label, or merge it into an existing one (merge: true; exact duplicates dropped); trained versions keep their images", "user", small, user, std, s.renameLabel).
			json(&api.RenameLabelRequest{}).ok(OK, &api.Dataset{}).fails(labelCodes...),
		r("DELETE", "/datasets/:id/labels/:label", "datasets", "Delete a label and its images; trained versions keep their images", "user", user, std, s.deleteLabel).fails(labelCodes...),
		r("GET", "/images/:id", "datasets", "An image's bytes", "user", user, std, s.getImage).file("image/*"),
		r("GET", "/images/:id/thumbnail", "datasets", "An image's thumbnail (JPEG, ≤ 160 px)", "user", user, std, s.getThumbnail).file("image/jpeg"),

		r("POST", "/models", "models", "Create a model", "user", small, user, std, s.createModel).
			json(&api.CreateModelRequest{}).ok(Created, &api.Model{}).fails(api.CodeInvalidName, api.CodeInvalid, api.CodeConflict),
		r("GET", "/models", "models", "List models with their versions", "user", user, std, s.listModels).params(pages).ok(OK, &api.ModelList{}).fails(api.CodeInvalid),
		r("GET", "/models/:id", "models", "A model, its versions and where each is published", "user", user, std, s.getModel).ok(OK, &api.Model{}),
		r("DELETE", "/models/:id", "models", "Delete a model (refused while it trains or is published)", "user", user, std, s.deleteModel).fails(api.CodeInUse, api.CodeConflict),
		r("POST", "/models/:id/versions", "models", "Train one new version per application type", "user", small, user, std, s.createVersions).
			json(&api.CreateVersionsRequest{}).ok(Accepted, []api.Version{}).
			fails(api.CodeInvalid, api.CodeInvalidAppType, api.CodeInvalidMetric, api.CodeDatasetNotReady, api.CodeUnknownLabel, api.CodeTooFewLabels, api.CodeTooFewImages, api.CodeTooManyLabels, api.CodeConflict),
		r("GET", "/models/:id/versions", "models", "A model's versions", "user", user, std, s.listVersions).ok(OK, &api.VersionList{}),
		r("GET", "/models/:id/versions/:v", "models", "A version: status, progress, error, publications", "user", user, std, s.getVersion).ok(OK, &api.Version{}).fails(api.CodeInvalid),
		r("GET", "/models/:id/versions/:v/images", "models", "The frozen image list a version trained on, with each image's split", "user", user, std, s.versionImages).
			ok(OK, &api.VersionImages{}).fails(api.CodeInvalid),
		r("POST", "/models/:id/versions/:v/stop", "models", "Stop training", "user", user, std, s.stopVersion).ok(OK, &api.Version{}).fails(api.CodeInvalid, api.CodeNotTraining, api.CodeConflict),
		r("GET", "/models/:id/versions/:v/report", "models", "The evaluation report (评估报告)", "user", user, std, s.getReport).ok(OK, &report.Report{}).fails(api.CodeInvalid, api.CodeNotTrained),
		r("GET", "/models/:id/versions/:v/package", "models", "The signed model package (tar.gz)", "user", user, s.getPackage).file("application/gzip").fails(api.CodeInvalid, api.CodeNotTrained),
		r("POST", "/models/:id/versions/:v/validation", "validation", "Start a validation service (校验)", "user", user, std, s.startValidation).
			ok(Accepted, &api.ValidationState{}).fails(api.CodeInvalid, api.CodeNotTrained, api.CodeUnavailable),
		r("GET", "/models/:id/versions/:v/validation", "validation", "The validation service's state", "user", user, std, s.getValidation).ok(OK, &api.ValidationState{}).fails(api.CodeInvalid),
		r("POST", "/models/:id/versions/:v/validation/predict", "validation", "Classify ≤ 10 images with the validation service", "user", user, limitBody(imageBody), timeout(2*t), s.predictValidation).
			image().params(&api.PredictQuery{}).ok(OK, &api.PredictAnswer{}).fails(predictCodes...).fails(api.CodeInvalid, api.CodeNotTrained, api.CodeNotReady),
		r("POST", "/models/:id/versions/:v/sdk", "sdk", "Request an offline SDK build", "user", small, user, std, s.requestSDK).
			json(&api.SDKRequest{}).ok(Accepted, &api.SDKBuild{}).fails(api.CodeInvalid, api.CodeInvalidPlatform, api.CodeNotTrained, api.CodeWrongTarget),
		r("GET", "/models/:id/versions/:v/sdk/:platform", "sdk", "An SDK build's state", "user", user, std, s.getSDK).ok(OK, &api.SDKBuild{}).fails(api.CodeInvalid, api.CodeNotTrained, api.CodeWrongTarget),
		r("GET", "/models/:id/versions/:v/sdk/:platform/download", "sdk", "The SDK zip", "user", user, s.downloadSDK).file("application/zip").
			fails(api.CodeInvalid, api.CodeNotTrained, api.CodeWrongTarget, api.CodeNotReady),

		r("POST", "/services", "services", "Publish a cloud API; online and loaded when it answers", "user", small, user, timeout(2*t), s.createService).
			json(&api.CreateServiceRequest{}).ok(Created, &api.Service{}).
			fails(api.CodeInvalid, api.CodeInvalidName, api.CodeInvalidPath, api.CodePathTaken, api.CodeNotFound, api.CodeNotTrained, api.CodeWrongTarget, api.CodeLoadFailed),
		r("GET", "/services", "services", "List cloud services", "user", user, std, s.listServices).ok(OK, &api.ServiceList{}),
		r("GET", "/services/:id", "services", "A service: state, statistics and its call document", "user", user, std, s.getService).ok(OK, &api.Service{}),
		r("PATCH", "/services/:id", "services", "Switch a service on or off, or the version behind its path (no downtime)", "user", small, user, timeout(2*t), s.updateService).
			json(&api.UpdateServiceRequest{}).ok(OK, &api.Service{}).fails(api.CodeInvalid, api.CodeNotTrained, api.CodeWrongTarget, api.CodeLoadFailed, api.CodeConflict),
		r("DELETE", "/services/:id", "services", "Delete a cloud service", "user", user, std, s.deleteService).fails(api.CodeConflict),
		r("GET", "/services/:id/usage", "services", "Calls, errors by class and latency per minute, summed over replicas (kept 30 days)", "user", user, std, s.serviceUsage).
			params(&api.UsageQuery{}).ok(OK, &api.ServiceUsage{}).fails(api.CodeInvalid),
		r("POST", "/infer/*path", "services", "Classify images with a published service", "apikey", apikey, limitBody(imageBody), timeout(t), s.infer).
			image().params(&api.PredictQuery{}).ok(OK, &api.PredictAnswer{}).fails(predictCodes...).fails(api.CodeOffline),

		r("POST", "/enrollment-tokens", "devices", "Create an enrolment token (admin)", "admin", small, keys, requireAdmin, std, s.createEnrollmentToken).
			json(&api.EnrollmentTokenRequest{}).ok(Created, &api.EnrollmentToken{}).fails(api.CodeInvalid),
		r("GET", "/enrollment-tokens", "devices", "Enrolment tokens with uses left and expiry; the secrets are never shown again (admin)", "admin", user, requireAdmin, std, s.listEnrollmentTokens).
			ok(OK, &api.EnrollmentTokenList{}),
		r("DELETE", "/enrollment-tokens/:id", "devices", "Revoke an enrolment token (admin)", "admin", keys, requireAdmin, std, s.deleteEnrollmentToken),
		r("POST", "/enroll", "devices", "Enrol a device with a one-time token", "", small, std, s.enroll).
			json(&api.EnrollRequest{}).ok(OK, &fleet.EnrollResponse{}).fails(api.CodeInvalid, api.CodeMQTTOff, api.CodeBadToken, api.CodeConflict),
		r("POST", strings.TrimPrefix(fleet.EnrollPath, "/api/v1"), "devices", "Enrol a device (the agent's path; same as /enroll)", "", small, std, s.enroll).
			json(&api.EnrollRequest{}).ok(OK, &fleet.EnrollResponse{}).fails(api.CodeInvalid, api.CodeMQTTOff, api.CodeBadToken, api.CodeConflict),
		r("POST", "/groups", "devices", "Create a device group; its name may be in any script (admin)", "admin", small, user, requireAdmin, std, s.createGroup).
			json(&api.CreateGroupRequest{}).ok(Created, &api.Group{}).fails(api.CodeInvalid, api.CodeConflict),
		r("GET", "/groups", "devices", "Device groups with device and online counts (admin)", "admin", user, requireAdmin, std, s.listGroups).ok(OK, &api.GroupList{}),
		r("GET", "/groups/:name", "devices", "A device group and its devices (admin)", "admin", user, requireAdmin, std, s.getGroup).ok(OK, &api.GroupDetail{}),
		r("POST", "/rollouts", "devices", "Roll a trained version out to a device group: all at once, canary or waves (admin)", "admin", small, user, requireAdmin, std, s.createRollout).
			json(&api.CreateRolloutRequest{}).ok(Created, &api.Rollout{}).fails(api.CodeInvalid, api.CodeNotTrained, api.CodeNotFound, api.CodeConflict),
		r("GET", "/rollouts", "devices", "Rollouts, newest first, with devices counted by state (admin)", "admin", user, requireAdmin, std, s.listRollouts).ok(OK, &api.RolloutList{}),
		r("GET", "/rollouts/:id", "devices", "A rollout and each device's progress (admin)", "admin", user, requireAdmin, std, s.getRollout).ok(OK, &api.Rollout{}),
		r("POST", "/rollouts/:id/:action", "devices", "Pause, resume, abort or roll back a rollout (action: pause|resume|abort|rollback; admin)", "admin", user, requireAdmin, std, s.rolloutAction).
			ok(OK, &api.Rollout{}).fails(api.CodeInvalid, api.CodeConflict),
		r("GET", "/devices", "devices", "Devices with online, last seen, reported and desired state (admin)", "admin", user, requireAdmin, std, s.listDevices).
			params(&api.DeviceQuery{}).ok(OK, &api.DeviceList{}),
		r("GET", "/devices/:id", "devices", "One device (admin)", "admin", user, requireAdmin, std, s.getDevice).ok(OK, &api.Device{}),
		r("PUT", "/devices/:id/desired", "devices", "Set a device's model; published retained over MQTT (admin)", "admin", small, user, requireAdmin, std, s.setDesired).
			json(&api.DesiredRequest{}).ok(OK, &api.Device{}).fails(api.CodeNotTrained, api.CodeMQTT, api.CodeConflict),
		r("DELETE", "/devices/:id", "devices", "Remove a device (admin)", "admin", user, requireAdmin, std, s.deleteDevice),
		r("GET", "/device-packages/:sha", "devices", "A package a device was told to install, from the signed URL in its desired state", "device", s.devicePackage).
			params(&api.DevicePackageQuery{}).file("application/gzip").fails(api.CodeForbidden),

		r("POST", strings.TrimPrefix(jobs.PathLease, "/api/v1"), "jobs", "Lease a training job (204: none waiting)", "trainer", small, trainer, std, s.leaseJob).
			json(&jobs.LeaseRequest{}).ok(OK, &jobs.Lease{}).or(http.StatusNoContent).fails(api.CodeInvalid, api.CodeUnsupportedVersion),
		r("POST", "/jobs/:id/heartbeat", "jobs", "Renew a lease and report progress", "trainer", small, trainer, std, s.heartbeat).
			json(&jobs.Heartbeat{}).ok(OK, &jobs.HeartbeatReply{}).fails(api.CodeInvalid, api.CodeLeaseLost),
		r("GET", "/jobs/:id/images/:image", "jobs", "A job's image bytes", "trainer", trainer, std, s.jobImage).file("application/octet-stream").fails(api.CodeLeaseLost),
		r("PUT", "/jobs/:id/artifacts/:name", "jobs", "Upload package.tar.gz or report.json", "trainer", trainer, limitBody(artifactMB), s.putArtifact).
			bytes(nil).fails(api.CodeInvalid, api.CodeInvalidReport, api.CodeChecksum, api.CodeUploadFailed, api.CodeLeaseLost, api.CodeTooLarge),
		r("POST", "/jobs/:id/complete", "jobs", "Complete a job", "trainer", small, trainer, timeout(5*t), s.completeJob).
			json(&jobs.Complete{}).fails(api.CodeInvalidPackage, api.CodeLeaseLost, api.CodeServiceUnavailable),
		r("POST", "/jobs/:id/fail", "jobs", "Fail a job with an error", "trainer", small, trainer, std, s.failJob).
			json(&jobs.Fail{}).fails(api.CodeLeaseLost),
	}
}

// zipCodes are what a zip upload may be refused with.
var zipCodes = []api.Code{api.CodeInvalidMultipart, api.CodeTooLarge, api.CodeUploadFailed, api.CodeUploadIncomplete,
	api.CodeMissingFile, api.CodeEmptyFile, api.CodeNotAZip, api.CodeConflict}

// labelCodes are what a label or image edit may be refused with.
var labelCodes = []api.Code{api.CodeBadLabel, api.CodeImporting, api.CodeUnknownLabel, api.CodeConflict}

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
	doc, err := openAPI(tbl, s.opt.PublicURL)
	if err != nil {
		panic("the route table does not make an OpenAPI document: " + err.Error()) // TestOpenAPI fails first
	}
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

// ready answers 200 while the database answers; trainer problems are
// listed but do not make the server unready (the API still serves).
func (s *Server) ready(c *gin.Context) {
	if err := s.st.Ping(c.Request.Context()); err != nil {
		c.JSON(http.StatusServiceUnavailable, api.Health{Status: "database unavailable", Error: err.Error()})
		return
	}
	c.JSON(http.StatusOK, api.Health{Status: "ready", Problems: s.trainers.status(time.Now()).Problems})
}
