//go:build unix

package agent_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/fleet"
)

// TestFleetHTTPDownload deploys a model whose desired state gives both a
// url and a transfer_id: the real agent downloads it over HTTP (preferred
// to the chunked MQTT transfer, which is never asked for), resumes with a
// Range request after the server cuts the first response mid-body, and
// serves the new version.
func TestFleetHTTPDownload(t *testing.T) {
	f, p := fleetSetup(t)
	const device, password = "dev-http-1", "pw-http-1"
	b := startBroker(t, map[string]string{device: password})
	cp := newControlPlane(t, b, device)
	enrol := enrolServer(t, device, password, b.url(), p.pubPEM)
	stateDir := filepath.Join(t.TempDir(), "state")
	ant := f.read(t, antPhoto)
	pkg := p.v4 // v1's model as version 4

	var mu sync.Mutex
	var ranges []string // the Range header of every request, "" for none
	pkgSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first { // half the body, then the connection is cut
			w.Header().Set("Content-Length", strconv.Itoa(len(pkg)))
			w.Header().Set("Content-Type", "application/gzip")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(pkg[:len(pkg)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "v4.tar.gz", time.Time{}, bytes.NewReader(pkg))
	}))
	t.Cleanup(pkgSrv.Close)
	if !strings.HasPrefix(pkgSrv.URL, "http://127.0.0.1:") {
		t.Fatalf("package server at %s, want 127.0.0.1", pkgSrv.URL)
	}

	if stderr, err := f.run(t, "enroll", "--server", enrol.URL, "--token", "tok-1", "--state-dir", stateDir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, stderr)
	}
	a := f.startAgent(t, "run", "--state-dir", stateDir, "--listen", "127.0.0.1:0",
		"--transfer-timeout", "1s", "--telemetry-interval", "1s", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log (tail):\n%s", tail(a.stderr.String(), 300))
		}
	})
	cp.waitReported(30*time.Second, "state idle", func(r *fleet.Reported) bool { return r.State == fleet.StateIdle })

	const tid = "t-http-v4"
	d := &fleet.Desired{Header: fleet.Header{ID: "d-http"}, Model: &fleet.ModelTarget{
		ID: p.v1ID, Version: 4, SHA256: sum(pkg), Size: int64(len(pkg)), TransferID: tid, URL: pkgSrv.URL + "/packages/v4.tar.gz"}}
	payload, err := fleet.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	// The package is offered over MQTT too, so a fallback would also
	// succeed: only the absence of transfer requests shows HTTP was used.
	cp.set(func(cp *controlPlane) { cp.files[tid], cp.desired = pkg, payload })
	topic, _ := fleet.Topic(device, fleet.KindDesired)
	if err := b.publish(topic, payload, true); err != nil {
		t.Fatal(err)
	}

	r := applied(t, cp, "d-http", 90*time.Second)
	if r.Model == nil || r.Model.Version != 4 || r.Model.SHA256 != sum(pkg) {
		t.Errorf("reported model %+v", r.Model)
	}
	if got := predictModel(t, a, ant); got.Model.ID != p.v1ID || got.Model.Version != 4 || got.Predictions[0].Label != "ant" {
		t.Errorf("after the HTTP deployment: model %+v, top-1 %q", got.Model, got.Predictions[0].Label)
	}
	if reqs := cp.requestsFor(tid); len(reqs) != 0 {
		t.Errorf("the agent asked for the MQTT transfer too: %+v", reqs)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("package requests: %q", ranges)
	if len(ranges) < 2 || ranges[0] != "" {
		t.Fatalf("package requests %q, want a whole GET and then a resume", ranges)
	}
	resumed := false
	for _, h := range ranges[1:] {
		start, ok := strings.CutPrefix(h, "bytes=")
		start, _, _ = strings.Cut(start, "-")
		if n, err := strconv.Atoi(start); ok && err == nil && n > 0 {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("no request resumed past byte 0: %q", ranges)
	}
}
