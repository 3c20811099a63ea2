package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/sdk"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// Offline SDK (离线 SDK) routes: package sdk assembles the zip. The
// runtime files come from the first folder of sdk.Platform.SearchDirs that
// holds them all (<SDKDir>/<platform>, then where the packages, `make
// dist` and `make build` put them). A missing file fails the build with a
// message naming it.

func (s *Server) offlineVersion(c *gin.Context) *store.Version {
	_, v := s.version(c)
	if v == nil || !s.succeeded(c, v) {
		return nil
	}
	if targetOf(v.AppType) != "offline" {
		failf(c, api.CodeWrongTarget, "version %d is %s: cloud versions are published as a cloud API, not an SDK", v.Number, v.AppType)
		return nil
	}
	return v
}

func (s *Server) requestSDK(c *gin.Context) {
	var req api.SDKRequest
	if !bindJSON(c, &req) {
		return
	}
	if _, err := sdk.Lookup(req.Platform); err != nil {
		failf(c, api.CodeInvalidPlatform, "platform %q: want one of %s", req.Platform, strings.Join(sdk.Names(), ", "))
		return
	}
	if !validNotes(req.Notes) {
		failf(c, api.CodeInvalid, "notes (其他要求) must be at most %d characters of text, without control characters but line breaks and tabs", store.MaxNotes)
		return
	}
	v := s.offlineVersion(c)
	if v == nil {
		return
	}
	if cur, err := s.st.SDK(c.Request.Context(), v.ModelID, v.Number, req.Platform); err == nil && cur.Status != store.SDKFailed {
		// A build older than sdkBuildLimit was lost (a restart or crash
		// mid-build): build it again.
		if cur.Status != store.SDKBuilding || time.Since(cur.UpdatedAt) < sdkBuildLimit {
			c.JSON(http.StatusAccepted, sdkJSON(cur))
			return
		}
	}
	r := &store.SDKRequest{ModelID: v.ModelID, Version: v.Number, Platform: req.Platform, Status: store.SDKBuilding, Notes: req.Notes}
	if err := s.st.PutSDK(c.Request.Context(), r); err != nil {
		s.internal(c, err)
		return
	}
	resp := sdkJSON(r)
	r = &store.SDKRequest{ModelID: r.ModelID, Version: r.Version, Platform: r.Platform} // the build's own copy
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sha, err := s.buildSDK(s.ctx, v, req.Platform)
		r.Status, r.SHA256, r.Error = store.SDKReady, sha, ""
		if err != nil {
			s.log.Warn("SDK build failed", zap.String("model", v.ModelID), zap.Int("version", v.Number), zap.String("platform", req.Platform), zap.Error(err))
			r.Status, r.Error = store.SDKFailed, err.Error()
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		defer cancel()
		if err := s.st.PutSDK(ctx, r); err != nil {
			s.log.Error("storing SDK state", zap.Error(err))
		}
	}()
	c.JSON(http.StatusAccepted, resp)
}

// sdkBuildLimit is how long an SDK build may take before a new request
// starts it again (a build lost to a restart stays "building" otherwise).
const sdkBuildLimit = 15 * time.Minute

func sdkJSON(r *store.SDKRequest) api.SDKBuild {
	out := api.SDKBuild{Platform: r.Platform, Status: r.Status, ModelID: r.ModelID, Version: r.Version, Error: r.Error, Notes: r.Notes}
	if r.Status == store.SDKReady {
		out.DownloadURL = fmt.Sprintf("/api/v1/models/%s/versions/%d/sdk/%s/download", r.ModelID, r.Version, r.Platform)
	}
	return out
}

func (s *Server) getSDK(c *gin.Context) {
	v := s.offlineVersion(c)
	if v == nil {
		return
	}
	r, err := s.st.SDK(c.Request.Context(), v.ModelID, v.Number, c.Param("platform"))
	if err != nil {
		s.lookupError(c, err, "SDK "+c.Param("platform"))
		return
	}
	if r.Status == store.SDKBuilding && time.Since(r.UpdatedAt) > sdkBuildLimit {
		r.Status, r.Error = store.SDKFailed, "the build was interrupted (server restart?); request the SDK again"
	}
	c.JSON(http.StatusOK, sdkJSON(r))
}

func (s *Server) downloadSDK(c *gin.Context) {
	v := s.offlineVersion(c)
	if v == nil {
		return
	}
	r, err := s.st.SDK(c.Request.Context(), v.ModelID, v.Number, c.Param("platform"))
	if err != nil {
		s.lookupError(c, err, "SDK "+c.Param("platform"))
		return
	}
	if r.Status != store.SDKReady {
		failf(c, api.CodeNotReady, "the SDK is %s", r.Status)
		return
	}
	s.sendBlob(c, r.SHA256, "application/zip", fmt.Sprintf("autocv-sdk-%s-v%d-%s.zip", v.ModelID, v.Number, r.Platform))
}

func (s *Server) buildSDK(ctx context.Context, v *store.Version, platform string) (string, error) {
	p, err := sdk.Lookup(platform)
	if err != nil {
		return "", err
	}
	exe, _ := os.Executable()
	dir, err := p.FindRuntime(p.SearchDirs(s.opt.SDKDir, exe))
	if err != nil {
		return "", err
	}
	pkg, err := s.packageFile(ctx, v.PackageSHA256)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.opt.DataDir, "uploads"), "sdk-*.zip")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	err = sdk.Write(tmp, sdk.Options{Platform: p, RuntimeDir: dir,
		Model: sdk.Model{ID: v.ModelID, Version: v.Number, Package: pkg, PublicKey: s.pub}})
	if err != nil {
		return "", err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	sha, _, err := s.blobs.Put(ctx, tmp)
	return sha, err
}
