package e2e_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/jobs"
)

// TestTrainerWithoutBackbones runs a trainer node whose backbone folder is
// empty against a real server: the trainer stays up, and /api/v1/status
// and /readyz say what is wrong and what to do.
func TestTrainerWithoutBackbones(t *testing.T) {
	s := startServer(t, serverOpts{})
	admin := s.admin(t)
	var before api.Status
	if st := admin.call("GET", "/api/v1/status", nil, &before); st != http.StatusOK || before.Trainers.Active != 0 || len(before.Trainers.Problems) != 0 {
		t.Fatalf("status before any trainer: %d %+v", st, before)
	}
	var tok api.Token
	if st := admin.call("POST", "/api/v1/trainer-tokens", api.TokenRequest{Name: "no-backbones"}, &tok); st != http.StatusCreated {
		t.Fatalf("trainer token: %d", st)
	}
	empty := t.TempDir()
	out := &testenv.LockedBuffer{}
	cmd := exec.Command(filepath.Join(binDir, "autocv-trainer"), "worker", "--server", s.URL, "--token", tok.Token, "--worker-id", "bare-node")
	cmd.Env = append(os.Environ(), "AUTOCV_BACKBONES="+empty, "ONNXRUNTIME_LIB=", "AUTOCV_CACHE_DIR="+t.TempDir())
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	var st api.Status
	waitFor(t, 60*time.Second, "the trainer's problem in /api/v1/status", func() (bool, string) {
		admin.call("GET", "/api/v1/status", nil, &st)
		return len(st.Trainers.Problems) == 1, jsonOf(st)
	})
	p := st.Trainers.Problems[0]
	if p.Code != jobs.ProblemNoBackbones || p.Workers != 1 || st.Trainers.Active != 0 ||
		!strings.Contains(p.Message, "make deps") || !strings.Contains(p.MessageEN, "AUTOCV_BACKBONES") ||
		!strings.Contains(p.Detail, empty) || time.Since(p.Since) > time.Minute {
		t.Fatalf("status %s", jsonOf(st))
	}

	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var h api.Health
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(h.Problems) != 1 || h.Problems[0].Code != jobs.ProblemNoBackbones {
		t.Fatalf("/readyz: %d %+v %v", resp.StatusCode, h, err)
	}

	// A few seconds on, it is the same process, still waiting.
	select {
	case <-exited:
		t.Fatalf("the trainer exited:\n%s", out.String())
	case <-time.After(3 * time.Second):
	}
	if n := strings.Count(out.String(), "cannot train yet"); n != 1 {
		t.Errorf("trainer logged the problem %d times; want once:\n%s", n, out.String())
	}
}
