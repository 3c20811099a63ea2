//go:build unix

package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// TestSelfUpdate updates a running agent (serve mode, real plugin, real
// package) to a new binary and to broken ones, end to end: the new binary
// is tried, kept when it comes up healthy, and otherwise the old one is
// restored and restarted. The agents are built with -tags
// autocv_testhooks, whose only addition is the SIGUSR1 trigger standing in
// for the control plane's desired agent version.
func TestSelfUpdate(t *testing.T) {
	f := setup(t)
	bins := buildUpdateBinaries(t)
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	trustKey := filepath.Join(t.TempDir(), "agent-signing.pub")
	if err := modelpkg.WritePublicKey(trustKey, pub); err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := modelpkg.GenerateKey()

	for _, tc := range []struct {
		name        string
		newBinary   string
		signer      func([]byte) (string, []byte)
		timeout     string
		wantApply   string // substring of Apply's result
		wantVersion string // serving afterwards
		wantResult  string // outcome recorded; "" for none
		wantReason  string
	}{
		{name: "good", newBinary: "v2", wantApply: "ok", wantVersion: "v2-test", wantResult: selfupdate.ResultUpdated},
		{name: "exits at start", newBinary: "exits", wantApply: "ok", wantVersion: "v1-test",
			wantResult: selfupdate.ResultRolledBack, wantReason: "exited before it became healthy"},
		{name: "never healthy", newBinary: "hangs", timeout: "3s", wantApply: "ok", wantVersion: "v1-test",
			wantResult: selfupdate.ResultRolledBack, wantReason: "did not report healthy within 3s"},
		{name: "bad signature", newBinary: "v2", wantApply: "signature does not verify", wantVersion: "v1-test",
			signer: func(b []byte) (string, []byte) { return fleet.SignBinary(otherPriv, b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "bin", "autocv-agent")
			suCopy(t, bins["v1"], exe, 0o755)
			download := filepath.Join(dir, "download", "autocv-agent")
			suCopy(t, bins[tc.newBinary], download, 0o644)
			newBytes, _ := os.ReadFile(download)
			oldBytes, _ := os.ReadFile(exe)
			sign := tc.signer
			if sign == nil {
				sign = func(b []byte) (string, []byte) { return fleet.SignBinary(priv, b) }
			}
			sum, sig := sign(newBytes)
			req := filepath.Join(dir, "update.json")
			data, _ := json.Marshal(map[string]any{"binary": download, "sha256": sum, "signature": sig,
				"trust_key": trustKey, "health_timeout": tc.timeout})
			if err := os.WriteFile(req, data, 0o644); err != nil {
				t.Fatal(err)
			}

			a := startUpdatable(t, f, exe, req)
			v, pid := a.version(t)
			if v != "v1-test" {
				t.Fatalf("before the update: version %q", v)
			}
			if err := a.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			result := suWaitFile(t, req+".result", 30*time.Second)
			if !strings.Contains(result, tc.wantApply) {
				t.Fatalf("Apply: %q, want %q\n%s", result, tc.wantApply, a.log(t))
			}
			if tc.wantResult == "" { // refused: no restart at all
				time.Sleep(time.Second)
				if v, p := a.version(t); v != "v1-test" || p != pid {
					t.Errorf("after a refused update: %s (plugin pid %d, was %d)", v, p, pid)
				}
				if !suSame(t, exe, oldBytes) {
					t.Error("the installed binary changed")
				}
				return
			}
			// The trial agent serves on the same port for a moment; the
			// outcome is written once it has stopped, before the restart.
			suWaitFile(t, selfupdate.OutcomePath(exe), 2*time.Minute)
			a.waitVersion(t, tc.wantVersion, 2*time.Minute)
			select {
			case <-a.exited:
				t.Fatalf("the agent process exited (%v); a restart should keep its pid", a.err)
			default:
			}
			o, err := selfupdate.ReadOutcome(exe)
			if err != nil {
				t.Fatal(err)
			}
			if o.Result != tc.wantResult || !strings.Contains(o.Reason, tc.wantReason) || o.FromVersion != "v1-test" || o.SHA256 != sum {
				t.Errorf("outcome %+v, want %s %q", o, tc.wantResult, tc.wantReason)
			}
			want := oldBytes
			if tc.wantResult == selfupdate.ResultUpdated {
				want = newBytes
			}
			if !suSame(t, exe, want) || !suSame(t, exe+".old", oldBytes) {
				t.Errorf("binaries after the update: want the %s one in place and the old one beside it", tc.wantVersion)
			}
			if _, err := os.Stat(exe + ".update-ready"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ready file left behind: %v", err)
			}
			// The agent still classifies, and stops cleanly on SIGINT.
			var got httpapi.PredictResponse
			a.do(t, "POST", "/v1/predict", "image/jpeg", f.read(t, antPhoto), http.StatusOK, &got)
			if got.Predictions[0].Label != "ant" {
				t.Errorf("after the update: top-1 %q", got.Predictions[0].Label)
			}
			a.stop(t)
			if a.err != nil {
				t.Errorf("exit after SIGINT: %v\n%s", a.err, a.log(t))
			}
		})
	}
}

// buildUpdateBinaries builds the agent as v1-test and v2-test (with the
// test hook), and two broken "new versions" from selfupdate's fake agent:
// one that exits at once and one that never reports healthy.
func buildUpdateBinaries(t *testing.T) map[string]string {
	t.Helper()
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	bins := map[string]string{}
	for name, args := range map[string][]string{
		"v1":    {"-tags", "autocv_testhooks", "-ldflags", "-X github.com/autocv/autocv/internal/buildinfo.Version=v1-test", "./agent/cmd/autocv-agent"},
		"v2":    {"-tags", "autocv_testhooks", "-ldflags", "-X github.com/autocv/autocv/internal/buildinfo.Version=v2-test", "./agent/cmd/autocv-agent"},
		"exits": {"-ldflags", "-X main.mode=exit -X main.version=v2-exits", "./agent/selfupdate/testdata/fakeagent"},
		"hangs": {"-ldflags", "-X main.mode=hang -X main.version=v2-hangs", "./agent/selfupdate/testdata/fakeagent"},
	} {
		bins[name] = filepath.Join(dir, name)
		gobin, err := exec.LookPath("go")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(gobin, append([]string{"build", "-o", bins[name]}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, b)
		}
	}
	return bins
}

// updatableAgent is an agent started from an installed binary on a fixed
// port (a restart must find it again), logging to a file.
type updatableAgent struct {
	*agentProc
	logPath string
}

func startUpdatable(t *testing.T, f *fixture, exe, req string) *updatableAgent {
	t.Helper()
	port := suFreePort(t)
	logPath := filepath.Join(filepath.Dir(req), "agent.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(exe, "serve", "--package", f.pkg, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "ONNXRUNTIME_LIB="+f.ort, "AUTOCV_PLUGIN_BINARY="+f.plugin, "AUTOCV_LOG_LEVEL=debug",
		"AUTOCV_TEST_UPDATE_REQUEST="+req)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	a := &updatableAgent{agentProc: &agentProc{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &syncBuffer{},
		exited: make(chan struct{})}, logPath: logPath}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() { a.stop(t) })
	a.waitHealthy(t, 90*time.Second)
	return a
}

func (a *updatableAgent) log(t *testing.T) string {
	b, _ := os.ReadFile(a.logPath)
	return string(b)
}

// version returns the agent version /v1/model reports and the plugin's
// pid, or "" while it does not answer.
func (a *updatableAgent) version(t *testing.T) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/v1/model", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	var m httpapi.ModelResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		return "", 0
	}
	return m.AgentVersion, m.Plugin.Pid
}

func (a *updatableAgent) waitVersion(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-a.exited:
			t.Fatalf("agent exited: %v\n%s", a.err, a.log(t))
		default:
		}
		if v, _ := a.version(t); v == want {
			return
		} else if v != "" {
			last = v
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("agent not serving version %s within %s (last seen %q)\n%s", want, within, last, a.log(t))
}

func suFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func suCopy(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

func suSame(t *testing.T, path string, want []byte) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	return err == nil && string(b) == string(want)
}

func suWaitFile(t *testing.T, path string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not written within %s", path, within)
	return ""
}
