package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fakeControlPlane answers the enrolment endpoint like the contract says.
func fakeControlPlane(t *testing.T, pubPEM string) (*httptest.Server, *atomic.Pointer[fleet.EnrollRequest]) {
	t.Helper()
	var got atomic.Pointer[fleet.EnrollRequest]
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+fleet.EnrollPath, func(w http.ResponseWriter, r *http.Request) {
		var req fleet.EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Validate() != nil {
			http.Error(w, `{"error":"bad request","code":"bad_request"}`, http.StatusBadRequest)
			return
		}
		got.Store(&req)
		switch req.Token {
		case "good":
			_ = json.NewEncoder(w).Encode(fleet.EnrollResponse{
				DeviceID:         "dev-42",
				MQTT:             fleet.MQTTCredentials{URL: "tcp://127.0.0.1:1883", Username: "dev-42", Password: "pw"},
				SigningPublicKey: pubPEM,
				ServerURL:        "http://" + r.Host,
			})
		case "bad-answer":
			_, _ = w.Write([]byte(`{"device_id":"dev/42"}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"enrolment token expired","code":"unauthorized"}`))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestEnroll(t *testing.T) {
	pub, _, err := modelpkg.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := modelpkg.MarshalPublicKey(pub)
	srv, got := fakeControlPlane(t, string(pubPEM))
	dir, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	resp, err := Enroll(ctx, Options{Server: srv.URL + "/", Token: "good", Name: "line-3", AgentVersion: "1.0.0", State: dir})
	if err != nil {
		t.Fatal(err)
	}
	if resp.DeviceID != "dev-42" {
		t.Errorf("device id %q", resp.DeviceID)
	}
	if r := got.Load(); r.Name != "line-3" || r.OS != runtime.GOOS || r.Arch != runtime.GOARCH || r.AgentVersion != "1.0.0" {
		t.Errorf("request = %+v", r)
	}
	id, err := dir.Identity()
	if err != nil || id.DeviceID != "dev-42" || id.MQTT.Password != "pw" || id.ServerURL != srv.URL {
		t.Fatalf("stored identity %+v, %v", id, err)
	}
	key, keyPEM, err := dir.TrustKey()
	if err != nil || !key.Equal(pub) || string(keyPEM) != string(pubPEM) {
		t.Fatalf("stored key: %v", err)
	}
	if runtime.GOOS != "windows" {
		for _, name := range []string{state.IdentityFile, state.TrustKeyFile} {
			fi, err := os.Stat(filepath.Join(dir.Path, name))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, %v; want 0600", name, fi.Mode(), err)
			}
		}
		if fi, _ := os.Stat(dir.Path); fi.Mode().Perm() != 0o700 {
			t.Errorf("state dir mode %v, want 0700", fi.Mode())
		}
	}
	entries, _ := os.ReadDir(dir.Path)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}

	t.Run("already enrolled", func(t *testing.T) {
		_, err := Enroll(ctx, Options{Server: srv.URL, Token: "good", State: dir})
		if !errors.Is(err, ErrAlreadyEnrolled) || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("err = %v", err)
		}
		if _, err := Enroll(ctx, Options{Server: srv.URL, Token: "good", State: dir, Force: true, AgentVersion: "1"}); err != nil {
			t.Fatalf("--force: %v", err)
		}
	})

	for _, tc := range []struct {
		name, server, token string
		is                  error
		want                []string
	}{
		{"expired token", srv.URL, "old", ErrRefused, []string{"401", "enrolment token expired", "create a new one"}},
		{"invalid answer", srv.URL, "bad-answer", fleet.ErrInvalid, []string{"device_id"}},
		{"not a URL", "cp.example", "good", nil, []string{"--server", "https://"}},
		{"wrong path", srv.URL + "/nothing", "good", ErrRefused, []string{"404"}},
		{"empty token", srv.URL, "", fleet.ErrInvalid, []string{"token is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh, _ := state.Open(filepath.Join(t.TempDir(), "s"))
			_, err := Enroll(ctx, Options{Server: tc.server, Token: tc.token, State: fresh, AgentVersion: "1"})
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if fresh.Enrolled() {
				t.Error("a failed enrolment stored an identity")
			}
		})
	}
}
