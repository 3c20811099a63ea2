package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/store"
)

// fuzzEnv is one server on a real SQLite store and blob folder, shared by
// every fuzz input of a process: an admin token, a ready dataset with two
// labels of 20 (fake) images each, and a model.
type fuzzEnv struct {
	srv            *Server
	token          string
	trainer        string // a trainer token, for the job API routes
	datasetID, mID string
}

var (
	fuzzOnce sync.Once
	fuzzE    *fuzzEnv
	fuzzErr  error
	fuzzDir  string
)

// TestMain removes the fuzz environment's folder when the process (a test
// run or a fuzz worker) ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzE != nil {
		fuzzE.srv.Close()
	}
	if fuzzDir != "" {
		os.RemoveAll(fuzzDir)
	}
	os.Exit(code)
}

func fuzzSetup(tb testing.TB) *fuzzEnv {
	fuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "autocv-server-fuzz-")
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzDir = dir
		ctx := context.Background()
		st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "db"), nil)
		if err != nil {
			fuzzErr = err
			return
		}
		blobs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
		if err != nil {
			fuzzErr = err
			return
		}
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		// No plugin binary exists at this path: inference endpoints must
		// fail politely, not crash.
		pool := infer.New(infer.Config{PluginBinary: filepath.Join(dir, "no-plugin")})
		srv, err := New(Options{DataDir: dir, PublicURL: "http://127.0.0.1:1", MQTTURL: "tcp://127.0.0.1:1883"},
			Deps{Store: st, Blobs: blobs, Infer: pool, Key: key})
		if err != nil {
			fuzzErr = err
			return
		}
		u := &store.User{Username: "admin", PasswordHash: dummyHash, Admin: true}
		if fuzzErr = st.CreateUser(ctx, u); fuzzErr != nil {
			return
		}
		e := &fuzzEnv{srv: srv, token: newSecret(prefixAPIKey)}
		if fuzzErr = st.CreateToken(ctx, &store.Token{Kind: store.TokenAPIKey, UserID: u.ID, Name: "fuzz", Hash: hashSecret(e.token)}); fuzzErr != nil {
			return
		}
		var hash string
		e.trainer, hash = NewTrainerToken()
		if fuzzErr = st.CreateToken(ctx, &store.Token{Kind: store.TokenTrainer, UserID: u.ID, Name: "fuzz", Hash: hash}); fuzzErr != nil {
			return
		}
		d := &store.Dataset{OwnerID: u.ID, Name: "fuzz", Status: store.DatasetReady}
		if fuzzErr = st.CreateDataset(ctx, d); fuzzErr != nil {
			return
		}
		var ims []store.Image
		for i := range 40 {
			sha := strings.Repeat("0", 62) + string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16])
			ims = append(ims, store.Image{Label: []string{"ants", "bees"}[i%2], SHA256: sha, Width: 64, Height: 64, Source: "x.jpg"})
		}
		if _, fuzzErr = st.AddImages(ctx, d.ID, ims); fuzzErr != nil {
			return
		}
		if fuzzErr = st.SetDatasetStatus(ctx, d.ID, store.DatasetReady, "", nil); fuzzErr != nil {
			return
		}
		m := &store.Model{OwnerID: u.ID, Name: "fuzz"}
		if fuzzErr = st.CreateModel(ctx, m); fuzzErr != nil {
			return
		}
		e.datasetID, e.mID = d.ID, m.ID
		fuzzE = e
	})
	if fuzzErr != nil {
		tb.Fatal(fuzzErr)
	}
	return fuzzE
}

// FuzzJSONBodies sends arbitrary bodies to every route that takes JSON,
// with real ids in the path: nothing may answer 500 or panic (the recovery
// middleware would turn a panic into a 500).
func FuzzJSONBodies(f *testing.F) {
	for _, seed := range []string{
		`{"app_types":["cloud-general"],"metric":"f1","data":[{"dataset_id":"DS","labels":["ants","bees"]}]}`,
		`{"name":"模型","contact":"a@b","description":"d"}`,
		`{"name":"s","path":"a/b","model_id":"M","version":1}`,
		`{"group":"g","uses":2,"expires_in":600}`,
		`{"token":"x","hostname":"h","os":"linux","arch":"amd64"}`,
		`{"model_id":"M","version":1}`,
		`{"size":10}`, `{"online":false,"version":2}`, `{"platform":"linux-amd64"}`,
		`{"username":"admin","password":"x"}`, `{"lease_id":"l","progress":{"stage":"x","percent":200}}`,
		`[]`, `null`, `{"name":1e400}`, "{\"name\":\"\\ud800\"}", `{} {}`,
	} {
		for i := range 12 {
			f.Add(uint8(i*3), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		e := fuzzSetup(t)
		var jsonRoutes []route
		for _, rt := range e.srv.table() {
			if rt.body == "json" {
				jsonRoutes = append(jsonRoutes, rt)
			}
		}
		rt := jsonRoutes[int(pick)%len(jsonRoutes)]
		path := rt.path
		id := e.mID
		if strings.HasPrefix(path, "/datasets") {
			id = e.datasetID
		}
		path = strings.NewReplacer(":id", id, ":v", "1", ":label", "ants", ":platform", "linux-amd64").Replace(path)
		b := bytes.ReplaceAll(bytes.ReplaceAll(body, []byte(`"DS"`), []byte(`"`+e.datasetID+`"`)), []byte(`"M"`), []byte(`"`+e.mID+`"`))
		req := httptest.NewRequest(rt.method, "/api/v1"+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		token := e.token
		if rt.auth == "trainer" { // else the job API answers 403 before reading the body
			token = e.trainer
		}
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, req)
		if w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), "cannot call this endpoint") {
			t.Fatalf("%s %s: the fuzz token is the wrong kind, so the body was never read", rt.method, path)
		}
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: 500 %s", rt.method, path, b, w.Body.String())
		}
	})
}
