package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/controlplane/training"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
)

func (s *Server) createModel(c *gin.Context) {
	var req api.CreateModelRequest
	if !bindJSON(c, &req) {
		return
	}
	switch {
	case !api.ValidName(req.Name, 64):
		fail(c, api.CodeInvalidName, "model name must be 1–64 letters, digits, Chinese characters, '_', '-', '.' or inner spaces")
		return
	case utf8.RuneCountInString(req.Contact) > 128 || !utf8.ValidString(req.Contact):
		fail(c, api.CodeInvalid, "contact must be at most 128 characters")
		return
	case utf8.RuneCountInString(req.Description) > 2000 || !utf8.ValidString(req.Description):
		fail(c, api.CodeInvalid, "description must be at most 2000 characters")
		return
	}
	m := &store.Model{OwnerID: who(c).user.ID, Name: req.Name, Contact: req.Contact, Description: req.Description}
	if err := s.st.CreateModel(c.Request.Context(), m); err != nil {
		s.createError(c, err)
		return
	}
	c.JSON(http.StatusCreated, modelJSON(m, nil, nil))
}

// modelJSON is a model with its versions; pubs (nil in lists) says where
// each is published.
func modelJSON(m *store.Model, vs []store.Version, pubs map[int][]api.Publication) api.Model {
	out := api.Model{ID: m.ID, Name: m.Name, Contact: m.Contact, Description: m.Description, CreatedAt: m.CreatedAt.UTC(),
		Versions: make([]api.Version, 0, len(vs))}
	for i := range vs {
		out.Versions = append(out.Versions, versionJSON(&vs[i], pubs[vs[i].Number]))
	}
	return out
}

func (s *Server) model(c *gin.Context) *store.Model {
	m, err := s.st.Model(c.Request.Context(), c.Param("id"))
	if err == nil && !owns(c, m.OwnerID) {
		err = store.ErrNotFound
	}
	if err != nil {
		s.lookupError(c, err, "model "+c.Param("id"))
		return nil
	}
	return m
}

func (s *Server) listModels(c *gin.Context) {
	p, page, size, ok := pageParams(c)
	if !ok {
		return
	}
	ms, total, err := s.st.Models(c.Request.Context(), ownerFilter(c), p)
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Model, 0, len(ms))
	for i := range ms {
		vs, err := s.st.Versions(c.Request.Context(), ms[i].ID)
		if err != nil {
			s.internal(c, err)
			return
		}
		items = append(items, modelJSON(&ms[i], vs, nil))
	}
	c.JSON(http.StatusOK, api.ModelList{Items: items, Page: api.Page{Total: total, Page: page, PageSize: size}})
}

func (s *Server) getModel(c *gin.Context) {
	m := s.model(c)
	if m == nil {
		return
	}
	vs, err := s.st.Versions(c.Request.Context(), m.ID)
	if err != nil {
		s.internal(c, err)
		return
	}
	pubs, err := s.publications(c.Request.Context(), vs)
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, modelJSON(m, vs, pubs))
}

func (s *Server) deleteModel(c *gin.Context) {
	m := s.model(c)
	if m == nil {
		return
	}
	// The store refuses (in its transaction) while a version trains or
	// a service publishes the model.
	if err := s.st.DeleteModel(c.Request.Context(), m.ID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(c, api.CodeInUse, err.Error())
			return
		}
		s.storeError(c, err, "model")
		return
	}
	c.Status(http.StatusNoContent)
}

// createVersions freezes the chosen images, splits them and queues one
// job per application type.
func (s *Server) createVersions(c *gin.Context) {
	var req api.CreateVersionsRequest
	if !bindJSON(c, &req) {
		return
	}
	m := s.model(c)
	if m == nil {
		return
	}
	if len(req.AppTypes) == 0 {
		fail(c, api.CodeInvalid, "app_types: choose at least one of cloud-general, cloud-high-accuracy, offline-general, offline-high-performance")
		return
	}
	seenType := map[string]bool{}
	for _, t := range req.AppTypes {
		if _, ok := jobs.RecipeFor(t); !ok || seenType[t] {
			failf(c, api.CodeInvalidAppType, "app_types: %q is unknown or repeated; want cloud-general, cloud-high-accuracy, offline-general or offline-high-performance", t)
			return
		}
		seenType[t] = true
	}
	if req.Metric == "" {
		req.Metric = "f1"
	}
	metric, ok := report.ParseMetric(req.Metric)
	if !ok {
		failf(c, api.CodeInvalidMetric, "metric %q is unknown; want one of %s (or Top1, Top5, f1_score)", req.Metric, strings.Join(jobs.Metrics, ", "))
		return
	}
	req.Metric = metric
	images, labels, ok := s.freeze(c, req.Data)
	if !ok {
		return
	}
	vs := make([]store.Version, len(req.AppTypes))
	js := make([]jobs.Job, len(req.AppTypes))
	for i, t := range req.AppTypes {
		seed := training.SeedFor(m.ID, t)
		vs[i] = store.Version{AppType: t, Metric: req.Metric, Status: store.VersionQueued, Labels: labels}
		js[i] = jobs.Job{AppType: t, Metric: req.Metric, Seed: seed, Labels: labels, Images: training.Split(images, seed)}
	}
	out, err := s.st.CreateVersions(c.Request.Context(), m.ID, vs, js)
	if err != nil {
		s.storeError(c, err, "model")
		return
	}
	res := make([]api.Version, 0, len(out))
	for i := range out {
		res = append(res, versionJSON(&out[i], nil))
	}
	c.JSON(http.StatusAccepted, res)
}

// freeze runs training.Freeze for the caller and answers its refusals.
func (s *Server) freeze(c *gin.Context, data []training.Data) ([]training.Image, []string, bool) {
	images, labels, err := training.Freeze(c.Request.Context(), s.st, func(owner string) bool { return owns(c, owner) }, data)
	switch {
	case err == nil:
		return images, labels, true
	case errors.Is(err, training.ErrInvalid):
		fail(c, api.CodeInvalid, err.Error())
	case errors.Is(err, training.ErrNotReady):
		fail(c, api.CodeDatasetNotReady, err.Error())
	case errors.Is(err, training.ErrUnknownLabel):
		fail(c, api.CodeUnknownLabel, err.Error())
	case errors.Is(err, training.ErrTooFewLabels):
		fail(c, api.CodeTooFewLabels, err.Error())
	case errors.Is(err, training.ErrTooFewImages):
		fail(c, api.CodeTooFewImages, err.Error())
	case errors.Is(err, store.ErrNotFound):
		fail(c, api.CodeNotFound, err.Error())
	default:
		s.internal(c, err)
	}
	return nil, nil, false
}

func versionJSON(v *store.Version, pubs []api.Publication) api.Version {
	if pubs == nil {
		pubs = []api.Publication{}
	}
	labels := v.Labels
	if labels == nil {
		labels = []string{}
	}
	return api.Version{Version: v.Number, ModelID: v.ModelID, AppType: v.AppType, Target: targetOf(v.AppType),
		Metric: v.Metric, Status: v.Status, Labels: labels,
		Progress: api.TrainingProgress{Stage: v.Progress.Stage, Percent: v.Progress.Percent,
			ETASeconds: v.Progress.ETASeconds, Message: v.Progress.Message},
		Error: v.Error, Metrics: v.Metrics, PackageSHA256: v.PackageSHA256, Publications: pubs,
		CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC()}
}

// targetOf is where a version may be published: "cloud" or "offline".
func targetOf(appType string) string {
	if strings.HasPrefix(appType, "cloud-") {
		return "cloud"
	}
	return "offline"
}

// version loads the path's model version.
func (s *Server) version(c *gin.Context) (*store.Model, *store.Version) {
	m := s.model(c)
	if m == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(c.Param("v"))
	if err != nil || n < 1 {
		fail(c, api.CodeInvalid, "version must be a number ≥ 1")
		return nil, nil
	}
	v, err := s.st.Version(c.Request.Context(), m.ID, n)
	if err != nil {
		s.lookupError(c, err, fmt.Sprintf("version %d of model %s", n, m.ID))
		return nil, nil
	}
	return m, v
}

func (s *Server) listVersions(c *gin.Context) {
	m := s.model(c)
	if m == nil {
		return
	}
	vs, err := s.st.Versions(c.Request.Context(), m.ID)
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Version, 0, len(vs))
	for i := range vs {
		items = append(items, versionJSON(&vs[i], nil))
	}
	c.JSON(http.StatusOK, api.VersionList{Items: items, Total: len(items)})
}

func (s *Server) getVersion(c *gin.Context) {
	_, v := s.version(c)
	if v == nil {
		return
	}
	pubs, err := s.publications(c.Request.Context(), []store.Version{*v})
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, versionJSON(v, pubs[v.Number]))
}

// publications lists where each of a model's versions is published
// (发布状态): cloud services, SDK builds and devices told to run it. The
// services and devices are read once for all the versions asked about.
func (s *Server) publications(ctx context.Context, vs []store.Version) (map[int][]api.Publication, error) {
	out := map[int][]api.Publication{}
	if len(vs) == 0 {
		return out, nil
	}
	modelID := vs[0].ModelID
	svcs, err := s.st.Services(ctx, "")
	if err != nil {
		return nil, err
	}
	devs, err := s.st.Devices(ctx, "")
	if err != nil {
		return nil, err
	}
	devices := map[int]int{}
	for _, d := range devs {
		if d.DesiredModelID == modelID {
			devices[d.DesiredVersion]++
		}
	}
	for _, v := range vs {
		pubs := []api.Publication{}
		for _, sv := range svcs {
			if sv.ModelID == modelID && sv.Version == v.Number {
				pubs = append(pubs, api.Publication{Kind: "service", ID: sv.ID, Name: sv.Name, Path: sv.Path, Online: &sv.Online})
			}
		}
		sdks, err := s.st.SDKs(ctx, modelID, v.Number)
		if err != nil {
			return nil, err
		}
		for _, r := range sdks {
			pubs = append(pubs, api.Publication{Kind: "sdk", Platform: r.Platform, Status: r.Status})
		}
		if n := devices[v.Number]; n > 0 {
			pubs = append(pubs, api.Publication{Kind: "device", Devices: n})
		}
		out[v.Number] = pubs
	}
	return out, nil
}

func (s *Server) stopVersion(c *gin.Context) {
	m, v := s.version(c)
	if v == nil {
		return
	}
	switch v.Status {
	case store.VersionQueued, store.VersionTraining, store.VersionStopping: // stopping again changes nothing
	default:
		failf(c, api.CodeNotTraining, "version %d is %s; only queued or training versions can be stopped", v.Number, v.Status)
		return
	}
	if err := s.st.StopVersion(c.Request.Context(), m.ID, v.Number); err != nil {
		s.storeError(c, err, "version")
		return
	}
	v, err := s.st.Version(c.Request.Context(), m.ID, v.Number)
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, versionJSON(v, nil))
}

func (s *Server) succeeded(c *gin.Context, v *store.Version) bool {
	if v.Status != store.VersionSucceeded {
		failf(c, api.CodeNotTrained, "version %d is %s; it has no report or package until it succeeds", v.Number, v.Status)
		return false
	}
	return true
}

func (s *Server) getReport(c *gin.Context) {
	_, v := s.version(c)
	if v == nil || !s.succeeded(c, v) {
		return
	}
	s.sendBlob(c, v.ReportSHA256, "application/json", "")
}

func (s *Server) getPackage(c *gin.Context) {
	m, v := s.version(c)
	if v == nil || !s.succeeded(c, v) {
		return
	}
	s.sendBlob(c, v.PackageSHA256, "application/gzip", fmt.Sprintf("%s-v%d.tar.gz", m.ID, v.Number))
}

// versionImages lists exactly the images a version was given (the frozen
// list its job carried), with the split each was in: datasets change, this
// list does not.
func (s *Server) versionImages(c *gin.Context) {
	_, v := s.version(c)
	if v == nil {
		return
	}
	j, err := s.st.Job(c.Request.Context(), v.JobID)
	if err != nil {
		s.lookupError(c, err, "the job of version "+strconv.Itoa(v.Number))
		return
	}
	items := make([]api.VersionImage, 0, len(j.Spec.Images))
	splits := map[string]int{}
	for _, im := range j.Spec.Images {
		items = append(items, api.VersionImage{ImageID: im.ID, Label: im.Label, Split: im.Split, SHA256: im.SHA256, Source: im.Source,
			ThumbnailURL: "/api/v1/images/" + im.ID + "/thumbnail"})
		splits[im.Split]++
	}
	c.JSON(http.StatusOK, api.VersionImages{Items: items, Total: len(items), Splits: splits, Labels: j.Spec.Labels, Seed: j.Spec.Seed})
}

// modelName is a model's name for lists that show model ids ("" when it
// is gone or unreadable: a name is a courtesy, not worth failing a list).
func (s *Server) modelName(ctx context.Context, id string) string {
	if m, err := s.st.Model(ctx, id); err == nil {
		return m.Name
	}
	return ""
}

// validNotes says whether notes (其他要求) keep to their limit.
func validNotes(notes string) bool { return store.ValidNotes(notes) }
