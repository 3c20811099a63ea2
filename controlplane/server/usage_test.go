package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/jobs"
)

// Two replicas over one database count their own calls of a service and
// store them at shutdown; the usage read from either is the sum, by class.
func TestUsageSumsReplicas(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(dir, "meta.db")
	blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	replica := func(name string) (*Server, store.Store) {
		st, err := store.Open(ctx, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		pool := infer.New(infer.Config{PluginBinary: filepath.Join(dir, "no-plugin")})
		srv, err := New(Options{DataDir: filepath.Join(dir, name), PublicURL: "http://127.0.0.1:1"}, Deps{Store: st, Blobs: blobs, Infer: pool, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return srv, st
	}
	a, st := replica("a")
	b, _ := replica("b")

	u := &store.User{Username: "admin", PasswordHash: dummyHash, Admin: true}
	usageNoErr(t, st.CreateUser(ctx, u))
	token := newSecret(prefixAPIKey)
	usageNoErr(t, st.CreateToken(ctx, &store.Token{Kind: store.TokenAPIKey, UserID: u.ID, Name: "t", Hash: hashSecret(token), Scopes: []string{api.ScopeFull}}))
	m := &store.Model{OwnerID: u.ID, Name: "蚂蚁识别"}
	usageNoErr(t, st.CreateModel(ctx, m))
	vs, err := st.CreateVersions(ctx, m.ID, []store.Version{{AppType: jobs.CloudGeneral, Metric: "f1", Status: store.VersionQueued}},
		[]jobs.Job{{AppType: jobs.CloudGeneral, Metric: "f1", Labels: []string{"a", "b"}}})
	usageNoErr(t, err)
	svc := &store.Service{OwnerID: u.ID, Name: "off", Path: "off", ModelID: m.ID, Version: vs[0].Number, Notes: "备注"}
	usageNoErr(t, st.CreateService(ctx, svc)) // offline: every call answers 503 offline (busy)

	call := func(s *Server, method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/api/v1"+path, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		return w
	}
	for i, s := range []*Server{a, a, a, b, b} {
		if w := call(s, "POST", "/infer/off"); w.Code != http.StatusServiceUnavailable {
			t.Fatalf("call %d: %d %s", i, w.Code, w.Body)
		}
	}
	a.Close() // stores what each replica gathered
	b.Close()
	w := call(a, "GET", "/services/"+svc.ID+"/usage?minutes=3")
	var got api.ServiceUsage
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusOK || len(got.Points) != 3 {
		t.Fatalf("usage: %d %s", w.Code, w.Body)
	}
	var calls, busy int64
	for _, p := range got.Points {
		calls, busy = calls+p.Calls, busy+p.Errors.Busy
	}
	if calls != 5 || busy != 5 {
		t.Errorf("usage summed over replicas: %d calls, %d busy; want 5 and 5: %s", calls, busy, w.Body)
	}
	var sv api.Service
	if w := call(a, "GET", "/services/"+svc.ID); json.Unmarshal(w.Body.Bytes(), &sv) != nil || sv.ModelName != "蚂蚁识别" || sv.Notes != "备注" {
		t.Errorf("service %s: want model_name 蚂蚁识别 and its notes", w.Body)
	}
	devs := []api.Device{{Desired: &api.DesiredRef{ModelID: m.ID}}, {}, {Desired: &api.DesiredRef{ModelID: "mdl_gone"}}}
	a.nameModels(ctx, devs)
	if devs[0].Desired.ModelName != "蚂蚁识别" || devs[2].Desired.ModelName != "" {
		t.Errorf("device model names: %+v %+v", devs[0].Desired, devs[2].Desired)
	}
}

// A minute counts calls by the status answered, and its histogram gives
// percentiles within the bucket that holds them.
func TestUsageMinute(t *testing.T) {
	var m infer.Minute
	for _, c := range []struct {
		ms     int
		status int
	}{{3, 200}, {4, 200}, {40, 200}, {45, 400}, {30, 415}, {1, 429}, {2, 503}, {20000, 500}, {60, 200}, {70, 200}} {
		m.Add(time.Duration(c.ms)*time.Millisecond, c.status)
	}
	if m.Calls != 10 || m.Client != 2 || m.Busy != 2 || m.Server != 1 {
		t.Errorf("classes: %+v", m)
	}
	if p50 := infer.Quantile(m.Hist, 0.5); p50 < 25 || p50 > 50 {
		t.Errorf("p50 %v ms, want in the 25–50 ms bucket", p50)
	}
	if p95 := infer.Quantile(m.Hist, 0.95); p95 != 10000 {
		t.Errorf("p95 %v ms, want 10000 (the slowest bucket's floor)", p95)
	}
	if q := infer.Quantile([infer.UsageBuckets]int64{}, 0.5); q != 0 {
		t.Errorf("empty histogram: %v", q)
	}
	u := infer.NewUsage()
	now := time.Now()
	u.Observe("svc", now, time.Millisecond, 200)
	got := u.Drain()
	u.Restore(got) // a failed store keeps them
	u.Observe("svc", now, time.Millisecond, 400)
	if again := u.Drain(); len(again) != 1 || again[infer.UsageKey{Service: "svc", Start: now.UTC().Truncate(time.Minute)}].Calls != 2 {
		t.Errorf("restored and new calls: %+v", again)
	}
}

func usageNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
