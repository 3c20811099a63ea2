//go:build linux

package infer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fixture is built once per test binary: the real plugin binary and demo
// packages wrapping the ImageNet backbones of the shared test data.
type fixture struct {
	dir        string
	binary     string // autocv-plugin-onnx
	ort        string // onnxruntime library
	pubPEM     []byte // key the packages are signed with
	otherPEM   []byte // a key that signed nothing
	mobilenet  pkg    // signed
	shufflenet pkg    // signed
	unsigned   pkg
}

type pkg struct {
	path string
	key  infer.Key
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

func setup(t *testing.T) *fixture {
	t.Helper()
	data := testenv.DataDir(t)
	ort := testenv.ORTLibrary(t)
	fixOnce.Do(func() { fix, fixErr = build(t, data, ort) })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func build(t *testing.T, data, ort string) (*fixture, error) {
	dir, err := os.MkdirTemp("", "autocv-infer-test-")
	if err != nil {
		return nil, err
	}
	f := &fixture{dir: dir, ort: ort, binary: filepath.Join(dir, host.BinaryName())}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return f, err
	}
	cmd := exec.Command(gobin, "build", "-o", f.binary, "./plugins/onnx/cmd/autocv-plugin-onnx")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		return f, fmt.Errorf("go build plugin: %v\n%s", err, out)
	}
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		return f, err
	}
	other, _, err := modelpkg.GenerateKey()
	if err != nil {
		return f, err
	}
	if f.pubPEM, err = modelpkg.MarshalPublicKey(pub); err != nil {
		return f, err
	}
	if f.otherPEM, err = modelpkg.MarshalPublicKey(other); err != nil {
		return f, err
	}
	// demopkg runs the backbone in this process to record golden outputs.
	if err := engine.Init(ort); err != nil {
		return f, err
	}
	for _, b := range []struct {
		out *pkg
		bb  demopkg.Backbone
		key ed25519.PrivateKey
	}{{&f.mobilenet, demopkg.MobileNetV2, priv}, {&f.shufflenet, demopkg.ShuffleNet, priv}, {&f.unsigned, demopkg.MobileNetV2, nil}} {
		name := b.bb.ID + ".tar.gz"
		if b.key == nil {
			name = "unsigned-" + name
		}
		path := filepath.Join(dir, name)
		m, err := demopkg.Build(data, b.bb, b.key, path)
		if err != nil {
			return f, fmt.Errorf("demo package %s: %w", b.bb.ID, err)
		}
		sum, err := fileSHA(path)
		if err != nil {
			return f, err
		}
		*b.out = pkg{path: path, key: infer.Key{ModelID: m.ModelID, Version: m.Version, SHA256: sum}}
	}
	return f, nil
}

func fileSHA(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// newPool returns a pool on the test plugin binary, closed when the test
// ends (after which no plugin process may be left).
func (f *fixture) newPool(t *testing.T, cfg infer.Config) *infer.Pool {
	t.Helper()
	cfg.PluginBinary = f.binary
	cfg.Env = append(cfg.Env, "ONNXRUNTIME_LIB="+f.ort)
	if cfg.TrustedKeys == nil {
		cfg.TrustedKeys = [][]byte{f.pubPEM}
	}
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	if cfg.Log == nil {
		cfg.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	p := infer.New(cfg)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if left := f.pluginPids(t); len(left) > 0 {
			t.Errorf("plugin processes %v outlived the pool", left)
		}
	})
	return p
}

// pluginPids lists the running processes of the test's plugin binary.
func (f *fixture) pluginPids(t *testing.T) []int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if err != nil {
			continue // exited meanwhile, or a zombie
		}
		if strings.TrimSuffix(exe, " (deleted)") == f.binary {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (f *fixture) load(t *testing.T, p *infer.Pool, k pkg, opts infer.LoadOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Load(ctx, k.key, k.path, opts); err != nil {
		t.Fatal(err)
	}
}

func alive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func photo(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Data(t, strings.Split(rel, "/")...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
