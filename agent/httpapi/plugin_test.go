//go:build unix

package httpapi

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/host"
)

// pluginAPI is the API on a loopback test server, backed by the real ONNX
// plugin serving the demo package: MobileNetV2 from the shared test data,
// signed, as `make run` serves it.
type pluginAPI struct {
	*httptest.Server
	srv *Server
}

// newPluginAPI builds the plugin and the demo package (go build caches
// both binaries) and serves the package. It skips, or fails under
// CI=true, when the test data or onnxruntime is missing.
func newPluginAPI(t *testing.T, cfg Config) *pluginAPI {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the plugin and runs a model; skipped with -short")
	}
	data, ort := testenv.DataDir(t), testenv.ORTLibrary(t)
	plugin := testenv.GoBuild(t, "./plugins/onnx/cmd/autocv-plugin-onnx", nil)
	demo := testenv.GoBuild(t, "./plugins/onnx/internal/demo", nil)
	dir := t.TempDir()
	cmd := exec.Command(demo, "-data", data, "-out", dir)
	cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+ort)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("demo package: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}

	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	run := runner.New(runner.Config{
		Package: runner.Package{Path: filepath.Join(dir, "package.tar.gz"), TrustedKeys: [][]byte{pub}},
		Host:    host.Config{Binary: plugin, Env: []string{"ONNXRUNTIME_LIB=" + ort}, Logger: log.Named("plugin")},
		Logger:  log.Named("runner"),
	})
	t.Cleanup(run.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Runner, cfg.Logger, cfg.Version = run, log.Named("http"), "test"
	a := &pluginAPI{srv: New(cfg)}
	a.Server = httptest.NewServer(a.srv.Handler())
	t.Cleanup(a.Server.Close)
	return a
}
