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

// An SDK request's notes (其他要求) are stored and answered, and kept when
// its build ends; notes over 2000 characters are refused.
func TestSDKNotes(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "meta.db"), nil)
	usageNoErr(t, err)
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	usageNoErr(t, err)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	srv, err := New(Options{DataDir: dir, PublicURL: "http://127.0.0.1:1", SDKDir: filepath.Join(dir, "sdk")},
		Deps{Store: st, Blobs: blobs, Infer: infer.New(infer.Config{PluginBinary: filepath.Join(dir, "none")}), Key: key})
	usageNoErr(t, err)
	t.Cleanup(srv.Close)
	u := &store.User{Username: "admin", PasswordHash: dummyHash, Admin: true}
	usageNoErr(t, st.CreateUser(ctx, u))
	token := newSecret(prefixAPIKey)
	usageNoErr(t, st.CreateToken(ctx, &store.Token{Kind: store.TokenAPIKey, UserID: u.ID, Name: "t", Hash: hashSecret(token), Scopes: []string{api.ScopeFull}}))
	m := &store.Model{OwnerID: u.ID, Name: "m"}
	usageNoErr(t, st.CreateModel(ctx, m))
	_, err = st.CreateVersions(ctx, m.ID, []store.Version{{AppType: jobs.OfflineGeneral, Metric: "f1", Status: store.VersionQueued}},
		[]jobs.Job{{AppType: jobs.OfflineGeneral, Metric: "f1", Labels: []string{"a", "b"}}})
	usageNoErr(t, err)
	j, err := st.Lease(ctx, "w", time.Minute, 1)
	usageNoErr(t, err)
	// succeeded with a package that is not in the blob store: the build fails
	usageNoErr(t, st.CompleteJob(ctx, j.ID, j.LeaseID, strings.Repeat("a", 64), strings.Repeat("b", 64), map[string]float64{"accuracy": 0.9}))

	call := func(method, path, body string) (int, api.SDKBuild) {
		req := httptest.NewRequest(method, "/api/v1/models/"+m.ID+"/versions/1/sdk"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		var b api.SDKBuild
		_ = json.Unmarshal(w.Body.Bytes(), &b)
		return w.Code, b
	}
	if code, _ := call("POST", "", `{"platform":"linux-amd64","notes":"`+strings.Repeat("字", 2001)+`"}`); code != http.StatusBadRequest {
		t.Errorf("notes over the limit: %d", code)
	}
	code, b := call("POST", "", `{"platform":"linux-amd64","notes":"带中文说明"}`)
	if code != http.StatusAccepted || b.Notes != "带中文说明" {
		t.Fatalf("request: %d %+v", code, b)
	}
	for deadline := time.Now().Add(10 * time.Second); b.Status == store.SDKBuilding && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, b = call("GET", "/linux-amd64", "")
	}
	if b.Status != store.SDKFailed || b.Notes != "带中文说明" {
		t.Errorf("after the build: %+v, want failed (no package) with the notes kept", b)
	}
}
