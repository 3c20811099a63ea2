//go:build unix

package agent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// TestFleetSelfUpdate updates an agent in run mode through its desired
// state over MQTT, end to end: the binary comes over the chunked
// transfer, is verified with the enrolled key, tried and kept (reported
// agent_version changes, the desired state is applied), and a broken one
// is rolled back (the previous version reports again, with the reason).
func TestFleetSelfUpdate(t *testing.T) {
	f := setup(t)
	bins := buildUpdateBinaries(t)
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := modelpkg.MarshalPublicKey(pub)
	const device, password = "dev-su-1", "pw-su-1"
	b := startBroker(t, map[string]string{device: password})
	cp := newControlPlane(t, b, device)
	enrol := enrolServer(t, device, password, b.url(), pubPEM)
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	if stderr, err := f.run(t, "enroll", "--server", enrol.URL, "--token", "tok-1", "--state-dir", stateDir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, stderr)
	}
	exe := filepath.Join(dir, "bin", "autocv-agent")
	suCopy(t, bins["v1"], exe, 0o755)

	a := f.command("run", "--state-dir", stateDir, "--listen", "127.0.0.1:0", "--transfer-timeout", "1s",
		"--agent-update-timeout", "30s", "--log-level", "debug")
	a.cmd = exec.Command(exe, a.cmd.Args[1:]...)
	a.cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+f.ort, "AUTOCV_PLUGIN_BINARY="+f.plugin, "AUTOCV_LOG_LEVEL=debug")
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.err = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		a.stop(t)
		if t.Failed() {
			t.Logf("agent log (tail):\n%s", tail(a.stderr.String(), 300))
		}
	})
	cp.waitReported(30*time.Second, "v1-test idle", func(r *fleet.Reported) bool {
		return r.AgentVersion == "v1-test" && r.State == fleet.StateIdle
	})

	offer := func(id, version, name, tid string) {
		t.Helper()
		bin, err := os.ReadFile(bins[name])
		if err != nil {
			t.Fatal(err)
		}
		sum, sig := fleet.SignBinary(priv, bin)
		d := &fleet.Desired{Header: fleet.Header{ID: id}, Agent: &fleet.AgentTarget{Version: version, SHA256: sum,
			Size: int64(len(bin)), TransferID: tid, Signature: fleet.EncodeBinarySignature(sig)}}
		payload, err := fleet.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		cp.set(func(cp *controlPlane) { cp.files[tid], cp.desired = bin, payload })
		topic, _ := fleet.Topic(device, fleet.KindDesired)
		if err := b.publish(topic, payload, true); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("good binary", func(t *testing.T) {
		offer("d-v2", "v2-test", "v2", "t-agent-v2")
		cp.waitEvent(30*time.Second, "d-v2", fleet.EventProgress) // downloading, then restarting
		r := cp.waitReported(2*time.Minute, "agent v2-test, d-v2 applied", func(r *fleet.Reported) bool {
			return r.AgentVersion == "v2-test" && r.AppliedDesiredID == "d-v2" && r.State != fleet.StateOffline
		})
		if r.LastError != "" {
			t.Errorf("reported %+v", r)
		}
		cp.waitEvent(10*time.Second, "d-v2", fleet.EventApplied)
		if !suSame(t, exe, mustRead(t, bins["v2"])) || !suSame(t, exe+".old", mustRead(t, bins["v1"])) {
			t.Error("want v2 installed with v1 kept beside it")
		}
	})

	t.Run("broken binary", func(t *testing.T) {
		offer("d-v3", "v3-exits", "exits", "t-agent-v3")
		e := cp.waitEvent(2*time.Minute, "d-v3", fleet.EventRolledBack)
		if !strings.Contains(e.Message, "v3-exits") || !strings.Contains(e.Message, "exited") {
			t.Errorf("rolled_back event %q", e.Message)
		}
		r := cp.waitReported(30*time.Second, "agent v2-test back", func(r *fleet.Reported) bool {
			return r.AgentVersion == "v2-test" && r.State != fleet.StateOffline && r.LastError != ""
		})
		if r.AppliedDesiredID != "d-v2" || !strings.Contains(r.LastError, "v2-test was restored") {
			t.Errorf("reported %+v", r)
		}
		if !suSame(t, exe, mustRead(t, bins["v2"])) {
			t.Error("the broken binary stayed installed")
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
