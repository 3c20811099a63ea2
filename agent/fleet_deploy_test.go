//go:build unix

package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/protocol/fleet"
)

// TestFleet runs the real agent in run mode against an embedded broker and
// a test control plane: enrolment, deployments over chunked MQTT transfer
// with hot swap under load, refusals and rollbacks, a broker restart and
// an agent crash in the middle of transfers, and a full disk.
func TestFleet(t *testing.T) {
	f, p := fleetSetup(t)
	const device, password = "dev-e2e-1", "pw-e2e-1"
	b := startBroker(t, map[string]string{device: password})
	cp := newControlPlane(t, b, device)
	enrol := enrolServer(t, device, password, b.url(), p.pubPEM)
	stateDir := filepath.Join(t.TempDir(), "state")
	ant := f.read(t, antPhoto)
	const load = 90 * time.Second // bound on waits that include a model load

	if stderr, err := f.run(t, "enroll", "--server", enrol.URL, "--token", "wrong", "--state-dir", stateDir); exitCode(err) != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("enroll with a wrong token: %v\n%s", err, stderr)
	}
	if stderr, err := f.run(t, "enroll", "--server", enrol.URL, "--token", "tok-1", "--state-dir", stateDir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, stderr)
	}
	runArgs := []string{"run", "--state-dir", stateDir, "--listen", "127.0.0.1:0",
		"--transfer-timeout", "1s", "--telemetry-interval", "1s", "--log-level", "debug"}
	var agents []*agentProc // every agent process started, for the log
	start := func(args ...string) *agentProc {
		a := f.startAgent(t, args...)
		agents = append(agents, a)
		return a
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("AUTOCV_TEST_AGENT_LOG") != "" {
			for i, a := range agents {
				t.Logf("log of agent process %d (tail):\n%s", i+1, tail(a.stderr.String(), 300))
			}
		}
	})
	a := start(runArgs...)

	t.Run("before any deployment", func(t *testing.T) {
		r := cp.waitReported(30*time.Second, "state idle", func(r *fleet.Reported) bool { return r.State == fleet.StateIdle })
		if r.Protocol != fleet.ProtocolVersion || r.Model != nil {
			t.Errorf("reported %+v", r)
		}
		// plugin auto (the default): what the device can run, as probed at start
		wantPlugin := "onnx-cpu"
		if slices.Contains(r.ExecutionProviders, "cuda") {
			wantPlugin = "onnx-cuda"
		}
		if r.Plugin != wantPlugin || !slices.Contains(r.Plugins, wantPlugin) || !slices.Contains(r.ExecutionProviders, "cpu") ||
			r.CPUs < 1 || r.GPU {
			t.Errorf("reported capability: plugin %q, plugins %v, providers %v, cpus %d, gpu %v",
				r.Plugin, r.Plugins, r.ExecutionProviders, r.CPUs, r.GPU)
		}
		var e httpapi.ErrorResponse
		a.do(t, "POST", "/v1/predict", "image/jpeg", ant, http.StatusServiceUnavailable, &e)
		if e.Code != httpapi.CodeUnavailable || !strings.Contains(e.Message, "no model has been deployed") {
			t.Errorf("predict before any deployment: %+v", e)
		}
		resp, err := http.Get(a.url + "/healthz")
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("healthz before any deployment: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()
	})

	t.Run("deploy v1", func(t *testing.T) {
		cp.deploy("d1", p.v1ID, 1, p.v1, "t-v1")
		r := applied(t, cp, "d1", load)
		if r.Model == nil || r.Model.ID != p.v1ID || r.Model.SHA256 != sum(p.v1) || r.ExecutionProvider == "" ||
			r.GPU != (r.ExecutionProvider == "cuda") || (!slices.Contains(r.ExecutionProviders, "cuda") && r.ExecutionProvider != "cpu") {
			t.Errorf("reported after v1: model %+v, provider %q, gpu %v, providers %v", r.Model, r.ExecutionProvider, r.GPU, r.ExecutionProviders)
		}
		cp.waitEvent(time.Second, "d1", fleet.EventAck)
		got := predictModel(t, a, ant)
		if got.Model.ID != p.v1ID || got.Predictions[0].Label != "ant" {
			t.Fatalf("after v1: model %+v, top-1 %q", got.Model, got.Predictions[0].Label)
		}
	})

	t.Run("deploy v2 under load", func(t *testing.T) {
		stop := make(chan struct{})
		wait := runLoad(a, ant, 2, 2000, stop)
		time.Sleep(300 * time.Millisecond)
		cp.deploy("d2", p.v2ID, 1, p.v2, "t-v2")
		r := applied(t, cp, "d2", load)
		appliedAt := time.Now()
		time.Sleep(time.Second)
		close(stop)
		results := wait()
		var v1, v2 int
		for _, res := range results {
			if res.err != nil || res.status != http.StatusOK {
				t.Errorf("request at %s failed: status %d, %v", res.start.Format(time.StampMilli), res.status, res.err)
				continue
			}
			switch res.model.ID {
			case p.v1ID:
				v1++
				if res.start.After(appliedAt) {
					t.Errorf("request sent after the swap was answered by v1")
				}
			case p.v2ID:
				v2++
			}
		}
		t.Logf("%d requests during the swap: %d answered by v1, %d by v2, 0 failed", len(results), v1, v2)
		if v1 == 0 || v2 == 0 {
			t.Errorf("load did not span the swap: %d by v1, %d by v2", v1, v2)
		}
		if r.PreviousModel == nil || r.PreviousModel.ID != p.v1ID || r.Model.ID != p.v2ID {
			t.Errorf("reported model %+v, previous %+v", r.Model, r.PreviousModel)
		}
	})

	t.Run("other signing key refused", func(t *testing.T) {
		cp.deploy("d3", p.v1ID, 1, p.otherKey, "t-other")
		e := cp.waitEvent(load, "d3", fleet.EventError, fleet.EventRolledBack)
		r := cp.waitReported(5*time.Second, "last_error", func(r *fleet.Reported) bool { return r.LastError != "" })
		for _, msg := range []string{e.Message, r.LastError} {
			if !strings.Contains(msg, "signature") || !strings.Contains(msg, "never loaded") {
				t.Errorf("refusal does not say why: %q", msg)
			}
		}
		stillServing(t, a, cp, ant, p.v2ID, "d2")
		if _, err := os.Stat(filepath.Join(stateDir, "packages", sum(p.otherKey)+".tar.gz")); err == nil {
			t.Error("the refused package is still in the store")
		}
	})

	t.Run("golden self-test failure rolls back", func(t *testing.T) {
		cp.deploy("d4", p.v1ID, 3, p.badGolden, "t-bad-golden")
		e := cp.waitEvent(load, "d4", fleet.EventRolledBack, fleet.EventError)
		if e.Kind != fleet.EventRolledBack || !strings.Contains(e.Message, "golden") {
			t.Errorf("event %s %q, want rolled_back naming the golden sample", e.Kind, e.Message)
		}
		r := cp.waitReported(5*time.Second, "last_error about golden", func(r *fleet.Reported) bool { return strings.Contains(r.LastError, "golden") })
		if r.State != fleet.StateServing || r.Model.ID != p.v2ID {
			t.Errorf("after the rollback: state %s, model %+v", r.State, r.Model)
		}
		stillServing(t, a, cp, ant, p.v2ID, "d2")
	})

	t.Run("tampered chunk asked for again", func(t *testing.T) {
		cp.set(func(cp *controlPlane) {
			cp.tamper = func(tid string, i, sent int) bool { return tid == "t-v4" && i == 2 && sent == 0 }
		})
		cp.deploy("d5", p.v1ID, 4, p.v4, "t-v4")
		applied(t, cp, "d5", load)
		if n := cp.sentCount("t-v4", 2); n < 2 {
			t.Errorf("tampered chunk 2 sent %d times, want a re-request", n)
		}
		if got := predictModel(t, a, ant); got.Model.Version != 4 || got.Model.ID != p.v1ID {
			t.Errorf("after v4: %+v", got.Model)
		}
	})

	t.Run("broker restart mid-transfer", func(t *testing.T) {
		release := holdFrom(cp, "t-v5", 8)
		cp.deploy("d6", p.v1ID, 5, p.v5, "t-v5")
		waitRequest(t, cp, "t-v5", 8)
		before := len(cp.requestsFor("t-v5"))
		b.restart()
		release()
		applied(t, cp, "d6", load)
		after := cp.requestsFor("t-v5")[before:]
		if len(after) == 0 || after[0].FromChunk != 8 {
			t.Errorf("requests after the restart %+v, want to resume from chunk 8", after)
		}
		if n := cp.sentCount("t-v5", 0); n != 1 {
			t.Errorf("chunk 0 sent %d times; the transfer started over", n)
		}
		if got := predictModel(t, a, ant); got.Model.Version != 5 {
			t.Errorf("after v5: %+v", got.Model)
		}
	})

	t.Run("agent killed mid-transfer", func(t *testing.T) {
		release := holdFrom(cp, "t-v2b", 4)
		cp.deploy("d7", p.v2ID, 1, p.v2, "t-v2b")
		waitRequest(t, cp, "t-v2b", 4)
		_ = a.cmd.Process.Kill()
		<-a.exited
		cp.waitReported(30*time.Second, "the last will", func(r *fleet.Reported) bool { return r.State == fleet.StateOffline })
		before := len(cp.requestsFor("t-v2b"))
		a = start(runArgs...)
		release()
		applied(t, cp, "d7", load)
		after := cp.requestsFor("t-v2b")[before:]
		if len(after) == 0 || after[0].FromChunk != 4 {
			t.Errorf("requests after the agent restart %+v, want to resume from chunk 4", after)
		}
		if got := predictModel(t, a, ant); got.Model.ID != p.v2ID {
			t.Errorf("after the restart: %+v", got.Model)
		}
	})

	t.Run("disk full refused", func(t *testing.T) {
		a.stop(t)
		cp.waitReported(10*time.Second, "offline after a clean stop", func(r *fleet.Reported) bool { return r.State == fleet.StateOffline })
		limit := dirSize(t, filepath.Join(stateDir, "packages")) + 1<<20
		a = start(append(runArgs, "--max-store-bytes", strconv.FormatInt(limit, 10))...)
		cp.waitReported(load, "serving again", func(r *fleet.Reported) bool { return r.State == fleet.StateServing })
		cp.deploy("d8", p.v1ID, 1, p.v1, "t-v1b")
		e := cp.waitEvent(load, "d8", fleet.EventError)
		if !strings.Contains(e.Message, "not enough disk space") {
			t.Errorf("event %q does not say the disk is full", e.Message)
		}
		stillServing(t, a, cp, ant, p.v2ID, "d7")
	})

	cp.mu.Lock()
	defer cp.mu.Unlock()
	counted := false
	for _, m := range cp.telem {
		counted = counted || m.Requests > 0
	}
	if !counted {
		t.Errorf("no telemetry counted the predictions (%d samples)", len(cp.telem))
	}
}

// applied waits until the agent reports desired id applied and serving.
func applied(t *testing.T, cp *controlPlane, id string, within time.Duration) *fleet.Reported {
	t.Helper()
	r := cp.waitReported(within, "applied_desired_id "+id, func(r *fleet.Reported) bool {
		return r.AppliedDesiredID == id && r.State == fleet.StateServing
	})
	cp.waitEvent(5*time.Second, id, fleet.EventApplied)
	if r.LastError != "" {
		t.Errorf("applied %s with last_error %q", id, r.LastError)
	}
	return r
}

// stillServing checks that model serves and the reported state says so.
func stillServing(t *testing.T, a *agentProc, cp *controlPlane, photo []byte, model, appliedID string) {
	t.Helper()
	if got := predictModel(t, a, photo); got.Model.ID != model {
		t.Errorf("serving %+v, want %s", got.Model, model)
	}
	r := cp.waitReported(5*time.Second, "serving", func(r *fleet.Reported) bool { return r.State == fleet.StateServing })
	if r.AppliedDesiredID != appliedID || r.Model == nil || r.Model.ID != model {
		t.Errorf("reported applied %q model %+v, want %s and %s", r.AppliedDesiredID, r.Model, appliedID, model)
	}
}

// holdFrom makes the control plane withhold the chunks of transfer tid
// from index from on, until the returned release is called.
func holdFrom(cp *controlPlane, tid string, from int) (release func()) {
	cp.set(func(cp *controlPlane) {
		cp.holdAt = func(id string) int {
			if id == tid {
				return from
			}
			return -1
		}
	})
	return func() { cp.set(func(cp *controlPlane) { cp.holdAt = nil }) }
}

// waitRequest waits for a request for transfer tid from chunk from.
func waitRequest(t *testing.T, cp *controlPlane, tid string, from int) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, r := range cp.requestsFor(tid) {
			if r.FromChunk == from {
				return
			}
		}
	}
	t.Fatalf("no request for %s from chunk %d; got %+v", tid, from, cp.requestsFor(tid))
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
