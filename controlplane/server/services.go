package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// keyOf is the inference pool key of a trained version.
func keyOf(v *store.Version) infer.Key {
	return infer.Key{ModelID: v.ModelID, Version: v.Number, SHA256: v.PackageSHA256}
}

// services keeps per-service call statistics; the service rows themselves
// are read from the store on every call, so every replica agrees on what
// is online and which version is behind a path.
type services struct {
	s     *Server
	mu    sync.Mutex
	stats map[string]*infer.Stats // by service id
	usage *infer.Usage            // per minute, until flushUsage stores it
	// edit serialises service changes on this replica with the
	// check-then-unload that follows them, so an unload never races a
	// load of the same version for another service.
	edit sync.Mutex
}

func newServices(s *Server) *services {
	return &services{s: s, stats: map[string]*infer.Stats{}, usage: infer.NewUsage()}
}

func (sv *services) statsFor(id string) *infer.Stats {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	st := sv.stats[id]
	if st == nil {
		st = &infer.Stats{}
		sv.stats[id] = st
	}
	return st
}

// count counts one /infer call as it ends, by the status it answered:
// 4xx (bad input too) as a client error, 5xx as a server error, 429 and
// 503 as busy. A call refused before the model ran (*ran false) has no
// model latency for the in-memory window; the minute counts its wall time.
func (sv *services) count(c *gin.Context, id string, start time.Time, ran *bool) {
	st := c.Writer.Status()
	sv.usage.Observe(id, time.Now(), time.Since(start), st)
	if !*ran && st >= 400 {
		sv.statsFor(id).Refused()
	}
}

// svcLatency is one service's latency for /metrics, labelled by service
// id: /metrics is unauthenticated and paths are the owners' business.
type svcLatency struct {
	id       string
	p50, p99 float64
}

// snapshot is every called service's latency on this replica (no store
// read: /metrics is scraped often).
func (sv *services) snapshot() []svcLatency {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	out := make([]svcLatency, 0, len(sv.stats))
	for id, st := range sv.stats {
		snap := st.Snapshot()
		out = append(out, svcLatency{id, snap.P50.Seconds(), snap.P99.Seconds()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// loadAll loads every online service (at start).
func (sv *services) loadAll(ctx context.Context) error {
	list, err := sv.s.st.Services(ctx, "")
	if err != nil {
		return err
	}
	for _, x := range list {
		if !x.Online {
			continue
		}
		if err := sv.s.loadVersion(ctx, x.ModelID, x.Version, false); err != nil {
			sv.s.log.Error("loading a published service", zap.String("path", x.Path), zap.Error(err))
		}
	}
	return nil
}

// loadVersion loads a trained version into the pool and waits for it.
func (s *Server) loadVersion(ctx context.Context, modelID string, number int, unloadable bool) error {
	v, err := s.st.Version(ctx, modelID, number)
	if err != nil {
		return err
	}
	path, err := s.packageFile(ctx, v.PackageSHA256)
	if err != nil {
		return err
	}
	return s.pool.Load(ctx, keyOf(v), path, infer.LoadOptions{Unloadable: unloadable})
}

var servicePathRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}(/[a-z0-9][a-z0-9_-]{0,62}){0,3}$`)

// cloudVersion loads a version the caller owns that may be published to
// the cloud.
func (s *Server) cloudVersion(c *gin.Context, modelID string, number int) *store.Version {
	m, err := s.st.Model(c.Request.Context(), modelID)
	if err == nil && !owns(c, m.OwnerID) {
		err = store.ErrNotFound
	}
	if err != nil {
		s.lookupError(c, err, "model "+modelID)
		return nil
	}
	v, err := s.st.Version(c.Request.Context(), modelID, number)
	if err != nil {
		s.lookupError(c, err, fmt.Sprintf("version %d of model %s", number, modelID))
		return nil
	}
	if !s.succeeded(c, v) {
		return nil
	}
	if targetOf(v.AppType) != "cloud" {
		failf(c, api.CodeWrongTarget, "version %d is %s: offline versions are published as an SDK, not a cloud API", v.Number, v.AppType)
		return nil
	}
	return v
}

func (s *Server) createService(c *gin.Context) {
	var req api.CreateServiceRequest
	if !bindJSON(c, &req) {
		return
	}
	if !api.ValidName(req.Name, 64) {
		fail(c, api.CodeInvalidName, "service name must be 1–64 letters, digits, Chinese characters, '_', '-', '.' or inner spaces")
		return
	}
	if !servicePathRE.MatchString(req.Path) {
		fail(c, api.CodeInvalidPath, "path must be 1–4 segments of lowercase letters, digits, '_' or '-' (e.g. \"factory/defects\")")
		return
	}
	if !validNotes(req.Notes) {
		failf(c, api.CodeInvalid, "notes (其他要求) must be at most %d characters of text, without control characters but line breaks and tabs", store.MaxNotes)
		return
	}
	v := s.cloudVersion(c, req.ModelID, req.Version)
	if v == nil {
		return
	}
	s.svcs.edit.Lock()
	defer s.svcs.edit.Unlock()
	if _, err := s.st.ServiceByPath(c.Request.Context(), req.Path); err == nil {
		fail(c, api.CodePathTaken, "path "+req.Path+" is already published; choose another")
		return
	}
	if err := s.loadVersion(c.Request.Context(), v.ModelID, v.Number, false); err != nil {
		failf(c, api.CodeLoadFailed, "loading version %d for serving: %v", v.Number, err)
		return
	}
	sv := &store.Service{OwnerID: who(c).user.ID, Name: req.Name, Path: req.Path, ModelID: v.ModelID, Version: v.Number, Online: true, Notes: req.Notes}
	if err := s.st.CreateService(c.Request.Context(), sv); err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(c, api.CodePathTaken, "path "+req.Path+" is already published; choose another")
			return
		}
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusCreated, s.serviceJSON(c, sv))
}

func (s *Server) serviceJSON(c *gin.Context, sv *store.Service) api.Service {
	url := strings.TrimRight(s.opt.PublicURL, "/") + "/api/v1/infer/" + sv.Path
	snap := s.svcs.statsFor(sv.ID).Snapshot()
	state := "offline"
	if sv.Online {
		state = "loading"
		if v, err := s.st.Version(c.Request.Context(), sv.ModelID, sv.Version); err == nil {
			if st, _ := s.pool.State(keyOf(v)); st == infer.StateReady {
				state = "online"
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return api.Service{ID: sv.ID, Name: sv.Name, Path: sv.Path, ModelID: sv.ModelID, ModelName: s.modelName(c.Request.Context(), sv.ModelID),
		Version: sv.Version, Notes: sv.Notes, Online: sv.Online, State: state, URL: url, CreatedAt: sv.CreatedAt.UTC(), UpdatedAt: sv.UpdatedAt.UTC(),
		Stats: api.ServiceStats{Calls: snap.Calls, Errors: snap.Errors, P50MS: ms(snap.P50), P90MS: ms(snap.P90), P99MS: ms(snap.P99), Window: snap.Window},
		Example: api.ServiceExample{
			Curl:         "curl -H \"Authorization: Bearer $AUTOCV_API_KEY\" --data-binary @photo.jpg " + url,
			CurlMultiple: "curl -H \"Authorization: Bearer $AUTOCV_API_KEY\" -F file=@a.jpg -F file=@b.jpg " + url,
			Request:      "POST " + url + "?top_k=5 — body: one image (jpg, png or bmp; raw bytes or one multipart \"file\"), or several \"file\" parts",
			Response: api.PredictResponse{Model: api.ModelRef{ID: sv.ModelID, Version: sv.Version},
				Predictions: []api.Prediction{{Label: "…", Confidence: 0.97, Threshold: api.DefaultThreshold, AboveThreshold: true}}, LatencyMS: 12.3},
		}}
}

// service loads the path's service if the caller owns it.
func (s *Server) service(c *gin.Context) *store.Service {
	sv, err := s.st.Service(c.Request.Context(), c.Param("id"))
	if err == nil && !owns(c, sv.OwnerID) {
		err = store.ErrNotFound
	}
	if err != nil {
		s.lookupError(c, err, "service "+c.Param("id"))
		return nil
	}
	return sv
}

func (s *Server) listServices(c *gin.Context) {
	list, err := s.st.Services(c.Request.Context(), ownerFilter(c))
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Service, 0, len(list))
	for i := range list {
		items = append(items, s.serviceJSON(c, &list[i]))
	}
	c.JSON(http.StatusOK, api.ServiceList{Items: items, Total: len(items)})
}

func (s *Server) getService(c *gin.Context) {
	if sv := s.service(c); sv != nil {
		c.JSON(http.StatusOK, s.serviceJSON(c, sv))
	}
}

// updateService switches a service on or off, or moves its path to
// another version: the new version is loaded first, then the row is
// switched, then the old one is unloaded once no service uses it (the pool
// lets calls in flight on it finish), so no call fails.
func (s *Server) updateService(c *gin.Context) {
	var req api.UpdateServiceRequest
	if !bindJSON(c, &req) {
		return
	}
	s.svcs.edit.Lock()
	defer s.svcs.edit.Unlock()
	sv := s.service(c)
	if sv == nil {
		return
	}
	old := *sv
	if req.Version != nil && *req.Version != sv.Version {
		v := s.cloudVersion(c, sv.ModelID, *req.Version)
		if v == nil {
			return
		}
		sv.Version = v.Number
	}
	if req.Online != nil {
		sv.Online = *req.Online
	}
	if sv.Online {
		if err := s.loadVersion(c.Request.Context(), sv.ModelID, sv.Version, false); err != nil {
			failf(c, api.CodeLoadFailed, "loading version %d for serving: %v", sv.Version, err)
			return
		}
	}
	if err := s.st.UpdateService(c.Request.Context(), sv); err != nil {
		s.storeError(c, err, "service")
		return
	}
	if old.Online && (!sv.Online || old.Version != sv.Version) {
		s.unloadIfUnused(c.Request.Context(), old.ModelID, old.Version)
	}
	c.JSON(http.StatusOK, s.serviceJSON(c, sv))
}

func (s *Server) deleteService(c *gin.Context) {
	s.svcs.edit.Lock()
	defer s.svcs.edit.Unlock()
	sv := s.service(c)
	if sv == nil {
		return
	}
	if err := s.st.DeleteService(c.Request.Context(), sv.ID); err != nil {
		s.storeError(c, err, "service")
		return
	}
	s.svcs.mu.Lock()
	delete(s.svcs.stats, sv.ID)
	s.svcs.mu.Unlock()
	s.svcs.usage.Forget(sv.ID)
	s.unloadIfUnused(c.Request.Context(), sv.ModelID, sv.Version)
	c.Status(http.StatusNoContent)
}

// unloadIfUnused unloads a version no online service serves any more.
// Call with svcs.edit held.
func (s *Server) unloadIfUnused(ctx context.Context, modelID string, number int) {
	list, err := s.st.Services(ctx, "")
	if err != nil {
		return
	}
	for _, x := range list {
		if x.Online && x.ModelID == modelID && x.Version == number {
			return
		}
	}
	if v, err := s.st.Version(ctx, modelID, number); err == nil {
		_ = s.pool.Unload(keyOf(v)) // waits for calls in flight on it
	}
}

// infer is POST /api/v1/infer/{path}: one image (raw body or a single
// multipart file) gets the one-image shape, several files get results in
// request order.
func (s *Server) infer(c *gin.Context) {
	path := strings.TrimPrefix(c.Param("path"), "/")
	sv, err := s.st.ServiceByPath(c.Request.Context(), path)
	if err != nil {
		s.lookupError(c, err, "service /api/v1/infer/"+path)
		return
	}
	if p := who(c); !owns(c, sv.OwnerID) || len(p.token.Services) > 0 && !slices.Contains(p.token.Services, sv.Path) {
		abortAPI(c, api.Errorf(api.CodeForbidden, "this API key may not call service %s", path))
		return
	}
	stats := s.svcs.statsFor(sv.ID)
	ran := false
	defer s.svcs.count(c, sv.ID, time.Now(), &ran)
	if !sv.Online {
		inferCalls.WithLabelValues(sv.ID, "offline").Inc()
		abortAPI(c, api.Errorf(api.CodeOffline, "service %s is offline", path))
		return
	}
	v, err := s.st.Version(c.Request.Context(), sv.ModelID, sv.Version)
	if err != nil {
		s.internal(c, err)
		return
	}
	p, ok := readPredictParams(c, v)
	if !ok {
		return
	}
	var files []partFile
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		var e *api.Error
		if files, e = readPredictParts(c, 32); e != nil {
			abortAPI(c, e)
			return
		}
	} else {
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			abortAPI(c, bodyError(c, err))
			return
		}
		files = []partFile{{name: rawBody, data: b}}
	}
	took, ran, err := s.classify(c, v, files, p, len(files) == 1, s.predict) // ran: read by the deferred count too
	outcome := "ok"
	switch {
	case !ran:
		outcome = "bad_input" // refused before the model: not a call to time
	case err != nil:
		outcome = "error"
	}
	if ran {
		stats.Observe(took, err)
	}
	inferCalls.WithLabelValues(sv.ID, outcome).Inc()
}

// predict runs one batch, loading the version on this replica first if
// another replica published it.
func (s *Server) predict(ctx context.Context, key infer.Key, imgs [][]byte, topK int) ([]infer.Prediction, time.Duration, error) {
	preds, d, err := s.pool.Predict(ctx, key, imgs, topK)
	if errors.Is(err, infer.ErrNotLoaded) {
		if lerr := s.loadVersion(ctx, key.ModelID, key.Version, false); lerr != nil {
			return nil, 0, lerr
		}
		preds, d, err = s.pool.Predict(ctx, key, imgs, topK)
	}
	return preds, d, err
}

// Validation (校验) services are pool entries loaded on demand and marked
// unloadable, so the pool unloads them when idle.

func (s *Server) startValidation(c *gin.Context) {
	_, v := s.version(c)
	if v == nil || !s.succeeded(c, v) {
		return
	}
	path, err := s.packageFile(c.Request.Context(), v.PackageSHA256)
	if err != nil {
		s.internal(c, err)
		return
	}
	if err := s.pool.Start(keyOf(v), path, infer.LoadOptions{Unloadable: true}); err != nil {
		fail(c, api.CodeUnavailable, err.Error())
		return
	}
	s.validationState(c, v, http.StatusAccepted)
}

func (s *Server) getValidation(c *gin.Context) {
	_, v := s.version(c)
	if v == nil {
		return
	}
	s.validationState(c, v, http.StatusOK)
}

func (s *Server) validationState(c *gin.Context, v *store.Version, status int) {
	st, err := "stopped", error(nil)
	if v.PackageSHA256 != "" {
		if x, e := s.pool.State(keyOf(v)); x != "" {
			st, err = x, e
		}
	}
	out := api.ValidationState{Status: st, ModelID: v.ModelID, Version: v.Number}
	if err != nil {
		out.Error = err.Error()
	}
	if info, ok := s.pool.Info(keyOf(v)); ok && len(info.Model.Labels) > 0 {
		out.Labels = append([]string(nil), info.Model.Labels...)
		sort.Strings(out.Labels)
	}
	c.JSON(status, out)
}

func (s *Server) predictValidation(c *gin.Context) {
	_, v := s.version(c)
	if v == nil || !s.succeeded(c, v) {
		return
	}
	key := keyOf(v)
	if st, _ := s.pool.State(key); st != infer.StateReady {
		if st == "" {
			st = "stopped"
		}
		failf(c, api.CodeNotReady, "the validation service is %s; POST …/validation first and wait for status ready", st)
		return
	}
	p, ok := readPredictParams(c, v)
	if !ok {
		return
	}
	files, e := readPredictParts(c, 10)
	if e != nil {
		abortAPI(c, e)
		return
	}
	// the pool as it is: a validation model that idled out is started
	// again by POST …/validation, never pinned by a call
	_, _, _ = s.classify(c, v, files, p, false, s.pool.Predict)
}
