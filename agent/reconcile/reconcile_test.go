package reconcile

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func desired(id string, m *fleet.ModelTarget) *fleet.Desired {
	return &fleet.Desired{Header: fleet.Header{ID: id}, Model: m}
}

func appliedID(id string) func(*fleet.Reported, []*fleet.Event) bool {
	return func(r *fleet.Reported, evs []*fleet.Event) bool {
		return r.AppliedDesiredID == id && r.State == fleet.StateServing && event(evs, fleet.EventApplied, id) != nil
	}
}

func TestDeploySwapAndIdempotence(t *testing.T) {
	w := newWorld(t, 0)
	w.run()
	w.waitFor("idle", func(r *fleet.Reported, _ []*fleet.Event) bool { return r.State == fleet.StateIdle })

	a, b := w.pkg(1, nil), w.pkg(2, nil)
	w.sess.desired <- desired("d1", a)
	w.waitFor("d1 applied", appliedID("d1"))
	w.sess.desired <- desired("d1", a) // a repeat: nothing happens
	w.sess.desired <- desired("d2", b)
	w.waitFor("d2 applied", appliedID("d2"))

	want := "start " + a.SHA256 + ".tar.gz, swap " + b.SHA256 + ".tar.gz"
	if got := w.srv.history(); got != want {
		t.Errorf("server calls %q, want %q", got, want)
	}
	rep, evs := w.sess.last()
	if rep.Model.SHA256 != b.SHA256 || rep.PreviousModel.SHA256 != a.SHA256 || rep.LastError != "" {
		t.Errorf("reported %+v", rep)
	}
	if n := len(evs); event(evs, fleet.EventAck, "d1") == nil || n < 4 {
		t.Errorf("events: %d, no ack for d1", n)
	}
	dep, _ := w.dir.Deployment()
	if dep.Current.SHA256 != b.SHA256 || dep.Previous.SHA256 != a.SHA256 || dep.AppliedDesiredID != "d2" {
		t.Errorf("deployment record %+v", dep)
	}

	// A third version: the oldest package leaves the store.
	c := w.pkg(3, nil)
	w.sess.desired <- desired("d3", c)
	w.waitFor("d3 applied", appliedID("d3"))
	if w.st.Has(a.SHA256) || !w.st.Has(b.SHA256) || !w.st.Has(c.SHA256) {
		t.Error("the store does not hold exactly the current and previous packages")
	}
}

func TestRefusalsKeepServing(t *testing.T) {
	w := newWorld(t, 0)
	w.run()
	good := w.pkg(1, nil)
	w.sess.desired <- desired("d1", good)
	w.waitFor("d1 applied", appliedID("d1"))

	_, otherKey, _ := modelpkg.GenerateKey()
	for _, tc := range []struct {
		name, id string
		target   *fleet.ModelTarget
		setup    func(m *fleet.ModelTarget)
		kind     fleet.EventKind
		want     string
	}{
		{name: "other key", id: "d2", target: w.pkg(2, otherKey), kind: fleet.EventError, want: "signature"},
		{name: "self-test fails", id: "d3", target: w.pkg(3, nil), kind: fleet.EventRolledBack, want: "golden sample 0",
			setup: func(m *fleet.ModelTarget) {
				w.srv.fail[m.SHA256+".tar.gz"] = errors.New("golden sample 0: got bee, want ant")
			}},
		{name: "unhealthy after swap", id: "d4", target: w.pkg(4, nil), kind: fleet.EventRolledBack, want: "health check",
			setup: func(*fleet.ModelTarget) { w.srv.mu.Lock(); w.srv.unhealth = true; w.srv.mu.Unlock() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(tc.target)
			}
			w.sess.desired <- desired(tc.id, tc.target)
			w.waitFor(tc.id+" refused", func(r *fleet.Reported, evs []*fleet.Event) bool {
				return event(evs, tc.kind, tc.id) != nil && r.State == fleet.StateServing
			})
			rep, evs := w.sess.last()
			if e := event(evs, tc.kind, tc.id); !strings.Contains(e.Message, tc.want) {
				t.Errorf("event %q lacks %q", e.Message, tc.want)
			}
			if !strings.Contains(rep.LastError, tc.want) || rep.AppliedDesiredID != "d1" || rep.Model.SHA256 != good.SHA256 {
				t.Errorf("reported %+v", rep)
			}
			if w.st.Has(tc.target.SHA256) {
				t.Error("the refused package stayed in the store")
			}
			dep, _ := w.dir.Deployment()
			if dep.HandledDesiredID != tc.id || dep.Current.SHA256 != good.SHA256 {
				t.Errorf("deployment record %+v", dep)
			}
		})
	}
	if h := w.srv.history(); !strings.HasSuffix(h, "swap "+good.SHA256+".tar.gz") {
		t.Errorf("the unhealthy model was not swapped back: %s", h)
	}
}

func TestLatestDesiredWins(t *testing.T) {
	w := newWorld(t, 0)
	w.run()
	slow, fast := w.pkg(1, nil), w.pkg(2, nil)
	w.fetch.block[slow.SHA256] = true
	w.sess.desired <- desired("d1", slow)
	w.waitFor("d1 downloading", func(r *fleet.Reported, _ []*fleet.Event) bool { return r.State == fleet.StateDownloading })
	w.sess.desired <- desired("d2", fast)
	w.waitFor("d2 applied", appliedID("d2"))
	if h := w.srv.history(); h != "start "+fast.SHA256+".tar.gz" {
		t.Errorf("server calls: %s", h)
	}
	if dep, _ := w.dir.Deployment(); dep.HandledDesiredID != "d2" {
		t.Errorf("handled %q", dep.HandledDesiredID)
	}
}

func TestDiskFull(t *testing.T) {
	w := newWorld(t, 100) // bytes: no package fits
	w.run()
	w.sess.desired <- desired("d1", w.pkg(1, nil))
	w.waitFor("refusal", func(r *fleet.Reported, evs []*fleet.Event) bool {
		return event(evs, fleet.EventError, "d1") != nil && r.State == fleet.StateFailed
	})
	rep, _ := w.sess.last()
	if !strings.Contains(rep.LastError, "not enough disk space") || !strings.Contains(rep.LastError, "--max-store-bytes") {
		t.Errorf("last_error %q", rep.LastError)
	}
}

func TestBootStartsDeployedModel(t *testing.T) {
	w := newWorld(t, 0)
	cur, prev := w.pkg(2, nil), w.pkg(1, nil)
	for _, m := range []*fleet.ModelTarget{cur, prev} {
		if _, err := w.fetch.Fetch(context.Background(), sourceOf(m), nil); err != nil {
			t.Fatal(err)
		}
	}
	ref := func(m *fleet.ModelTarget) *fleet.ModelRef {
		return &fleet.ModelRef{ID: m.ID, Version: m.Version, SHA256: m.SHA256}
	}
	if err := w.dir.SaveDeployment(state.Deployment{Current: ref(cur), Previous: ref(prev), AppliedDesiredID: "d9", HandledDesiredID: "d9"}); err != nil {
		t.Fatal(err)
	}
	w.srv.fail[cur.SHA256+".tar.gz"] = errors.New("plugin crashed while loading")
	w.run()
	w.waitFor("serving the previous model", func(r *fleet.Reported, _ []*fleet.Event) bool {
		return r.State == fleet.StateServing && r.Model.SHA256 == prev.SHA256
	})
	rep, _ := w.sess.last()
	if !strings.Contains(rep.LastError, "plugin crashed") || rep.AppliedDesiredID != "d9" {
		t.Errorf("reported %+v", rep)
	}
	w.sess.desired <- desired("d9", cur) // already handled before the restart
	time.Sleep(50 * time.Millisecond)
	if h := w.srv.history(); strings.Count(h, ",") != 1 {
		t.Errorf("server calls after a repeated desired: %s", h)
	}
}

func TestMeter(t *testing.T) {
	var m Meter
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	for _, target := range []string{"/v1/predict", "/v1/predict?fail=1", "/upload", "/healthz"} {
		method := http.MethodPost
		if target == "/healthz" {
			method = http.MethodGet
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, target, nil))
	}
	if s := m.Snapshot(); s.Requests != 3 || s.Errors != 1 || s.P99Ms < s.P50Ms {
		t.Errorf("snapshot %+v, want 3 requests, 1 error", s)
	}
}
