package server

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// Offline SDK (离线 SDK): a zip per platform holding the agent in
// standalone mode, the onnx plugin, the onnxruntime library, the signed
// package, its public key and a start script. The runtime files come from
// <SDKDir>/<platform>/ (the installers put them there; `make build` fills
// linux-amd64 for this machine). A missing file fails the request with a
// message naming it.

var sdkPlatforms = map[string]struct{ exe, lib, start string }{
	"linux-amd64":   {"", "libonnxruntime.so.1", "start.sh"},
	"linux-arm64":   {"", "libonnxruntime.so.1", "start.sh"},
	"windows-amd64": {".exe", "onnxruntime.dll", "start.bat"},
}

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
	if _, ok := sdkPlatforms[req.Platform]; !ok {
		failf(c, api.CodeInvalidPlatform, "platform %q: want linux-amd64, windows-amd64 or linux-arm64", req.Platform)
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
	r := &store.SDKRequest{ModelID: v.ModelID, Version: v.Number, Platform: req.Platform, Status: store.SDKBuilding}
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
	out := api.SDKBuild{Platform: r.Platform, Status: r.Status, ModelID: r.ModelID, Version: r.Version, Error: r.Error}
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
	p := sdkPlatforms[platform]
	dir := filepath.Join(s.opt.SDKDir, platform)
	files := []string{"autocv-agent" + p.exe, "autocv-plugin-onnx" + p.exe, p.lib}
	if _, err := os.Stat(dir); err != nil && platform == runtime.GOOS+"-"+runtime.GOARCH {
		// The server's own platform: make build puts the agent, the plugin
		// and the library beside the server binary.
		if exe, err := os.Executable(); err == nil {
			dir = filepath.Dir(exe)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("the %s runtime is not installed on this server: %s is missing (install the SDK runtime files into %s)", platform, f, dir)
		}
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
	root := fmt.Sprintf("autocv-sdk-%s-v%d/", v.ModelID, v.Number)
	zw := zip.NewWriter(tmp)
	add := func(name string, mode os.FileMode, r io.Reader) error {
		h := &zip.FileHeader{Name: root + name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = io.Copy(w, r)
		}
		return err
	}
	addFile := func(name, path string, mode os.FileMode) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return add(name, mode, f)
	}
	for _, f := range files {
		if err := addFile(f, filepath.Join(dir, f), 0o755); err != nil {
			return "", err
		}
	}
	if err := addFile("package.tar.gz", pkg, 0o644); err != nil {
		return "", err
	}
	for name, body := range map[string]string{
		"signing.pub": string(s.pub),
		p.start:       startScript(p.start, p.exe),
		"README.txt":  sdkReadme,
	} {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "start") {
			mode = 0o755
		}
		if err := add(name, mode, strings.NewReader(body)); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	sha, _, err := s.blobs.Put(ctx, tmp)
	return sha, err
}

func startScript(name, exe string) string {
	if strings.HasSuffix(name, ".bat") {
		return "@echo off\r\ncd /d \"%~dp0\"\r\nautocv-agent" + exe + " serve --package package.tar.gz --trust-key signing.pub --listen 127.0.0.1:8987\r\n"
	}
	return "#!/bin/sh\ncd \"$(dirname \"$0\")\" || exit 1\nexec ./autocv-agent serve --package package.tar.gz --trust-key signing.pub --listen 127.0.0.1:8987\n"
}

const sdkReadme = `AutoCV 离线 SDK / offline SDK

1. 解压本压缩包 / Unzip this archive.
2. 运行 start.sh（Linux）或 start.bat（Windows） / Run start.sh (Linux) or start.bat (Windows).
3. 打开 http://127.0.0.1:8987/upload 上传图片识别 / Open http://127.0.0.1:8987/upload to classify photos.

接口 / API: POST http://127.0.0.1:8987/v1/predict （图片作为请求体 / the image as the body）
参数 / query: ?top_k=5（最多返回的标签数，超过标签总数时返回全部 / labels to return, clamped to the label count）
       ?threshold=0.5（置信度阈值 0–1，默认取模型包的阈值 / confidence threshold, default the package's）
返回 / answers: {"model":{"id","version"},"predictions":[{"label","confidence","threshold","above_threshold"}],"latency_ms"}
错误 / errors: {"error","code"}，如 empty_body、not_an_image、unsupported_format、corrupt、too_large、bad_top_k
模型包已签名，signing.pub 为信任的公钥 / The package is signed; signing.pub is the trusted key.
`
