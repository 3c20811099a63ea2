package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	cpserver "github.com/autocv/autocv/controlplane/server"
	"github.com/autocv/autocv/protocol/api"
)

// An API key does what its scopes say and nothing else: an inference key
// is refused on every operation but /infer, a full key on the
// credentials, and a keys key cannot make itself a full one; logout wants
// a session.
func TestKeyScopes(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 0})
	admin := s.admin(t)
	ctx := t.Context()
	key := func(scopes ...string) *client {
		k, err := admin.CreateAPIKey(ctx, api.TokenRequest{Name: strings.Join(scopes, "+"), Scopes: scopes})
		if err != nil {
			t.Fatalf("key %v: %v", scopes, err)
		}
		if want := scopes; len(want) == 0 && (len(k.Scopes) != 1 || k.Scopes[0] != api.ScopeInfer) {
			t.Errorf("a key made without scopes has %v, want [infer]", k.Scopes)
		}
		return newClient(t, s.URL, k.Key)
	}
	infer, full, keys := key(), key(api.ScopeFull), key(api.ScopeKeys)

	doc, err := cpserver.OpenAPIDocument("")
	if err != nil {
		t.Fatal(err)
	}
	ops := operations(t, doc)
	checked := 0
	for _, op := range ops {
		if op.public || op.trainer || op.device || strings.HasPrefix(op.path, "/api/v1/infer/") {
			continue
		}
		p := strings.NewReplacer("{", "x-", "}", "").Replace(op.path)
		st, raw := infer.raw(op.method, p, "application/json", strings.NewReader("{}"))
		wantError(t, "infer key: "+op.method+" "+op.path, st, raw, http.StatusForbidden, api.CodeForbidden, "scopes (infer)")
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d operations checked", checked)
	}
	// The infer key reaches /infer (no such service here: 404, not 403).
	st, raw := infer.raw("POST", "/api/v1/infer/no/such", "image/jpeg", strings.NewReader("x"))
	wantError(t, "infer key on /infer", st, raw, http.StatusNotFound, api.CodeNotFound)

	// A full key works the application, not the credentials.
	if _, err := full.ListDatasets(ctx, 0, 0); err != nil {
		t.Errorf("full key listing datasets: %v", err)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/apikeys", ""}, {"POST", "/api/v1/apikeys", `{"name":"x"}`}, {"POST", "/api/v1/users", `{"username":"eve","password":"pw-eve-12345","admin":true}`},
		{"POST", "/api/v1/trainer-tokens", `{"name":"x"}`}, {"POST", "/api/v1/enrollment-tokens", `{"group":"g"}`}, {"POST", "/api/v1/me/password", `{"old_password":"a","new_password":"bbbbbbbb"}`},
	} {
		st, raw := full.raw(c.method, c.path, "application/json", strings.NewReader(c.body))
		wantError(t, "full key: "+c.method+" "+c.path, st, raw, http.StatusForbidden, api.CodeForbidden, `"keys"`)
	}
	// A keys key manages keys, but only of its own scope, and makes no users.
	if _, err := keys.CreateAPIKey(ctx, api.TokenRequest{Name: "k2", Scopes: []string{api.ScopeKeys}}); err != nil {
		t.Errorf("keys key making a keys key: %v", err)
	}
	_, err = keys.CreateAPIKey(ctx, api.TokenRequest{Name: "wider", Scopes: []string{api.ScopeFull}})
	if errStatus(t, err) != http.StatusForbidden {
		t.Errorf("keys key making a full key: %v, want 403", err)
	}
	st, raw = keys.raw("POST", "/api/v1/users", "application/json", strings.NewReader(`{"username":"eve","password":"pw-eve-12345","admin":true}`))
	wantError(t, "keys key creating a user", st, raw, http.StatusForbidden, api.CodeForbidden, "console")
	// Logout ends sessions only.
	st, raw = full.raw("POST", "/api/v1/auth/logout", "", nil)
	wantError(t, "logout with a key", st, raw, http.StatusForbidden, api.CodeForbidden, "session")
}

// operation is one operation of the OpenAPI document and who may call it.
type operation struct {
	method, path            string
	public, trainer, device bool
}

func operations(t *testing.T, doc []byte) []operation {
	t.Helper()
	var spec struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatal(err)
	}
	var out []operation
	for p, item := range spec.Paths {
		for m, op := range item {
			o := operation{method: strings.ToUpper(m), path: p}
			o.public = len(op.Security) == 0 || len(op.Security) == 1 && len(op.Security[0]) == 0
			for _, req := range op.Security {
				_, tr := req["trainerToken"]
				_, dev := req["deviceURL"]
				o.trainer, o.device = o.trainer || tr, o.device || dev
			}
			out = append(out, o)
		}
	}
	return out
}
