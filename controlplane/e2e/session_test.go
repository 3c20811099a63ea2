package e2e_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPasswordChange: changing a password ends the user's other sessions,
// keeps the one that changed it, and the old password stops working.
func TestPasswordChange(t *testing.T) {
	s := startServer(t, serverOpts{})
	admin := s.admin(t)
	if st := admin.call("POST", "/api/v1/users", map[string]any{"username": "carol", "password": "carol-password-1"}, nil); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	a := s.login(t, "carol", "carol-password-1")
	b := s.login(t, "carol", "carol-password-1")
	var key struct{ Key string }
	a.call("POST", "/api/v1/apikeys", map[string]string{"name": "script"}, &key)
	if st, raw := a.raw("POST", "/api/v1/me/password", "application/json",
		strings.NewReader(`{"old_password":"carol-password-1","new_password":"carol-password-2"}`)); st != http.StatusNoContent {
		t.Fatalf("change password: %d %s", st, raw)
	}
	if st := a.call("GET", "/api/v1/me", nil, nil); st != 200 {
		t.Errorf("the session that changed the password: %d, want 200", st)
	}
	if st := b.call("GET", "/api/v1/me", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("another session after the change: %d, want 401", st)
	}
	k := &client{t: t, base: s.URL, token: key.Key}
	if st := k.call("GET", "/api/v1/me", nil, nil); st != 200 {
		t.Errorf("API key after the change: %d, want 200 (keys are revoked on their own)", st)
	}
	anon := &client{t: t, base: s.URL}
	if st := anon.call("POST", "/api/v1/auth/login", map[string]string{"username": "carol", "password": "carol-password-1"}, nil); st != http.StatusUnauthorized {
		t.Errorf("login with the old password: %d, want 401", st)
	}
	s.login(t, "carol", "carol-password-2")
	if st := a.call("POST", "/api/v1/me/password", map[string]string{"old_password": "carol-password-2", "new_password": "short"}, nil); st != http.StatusBadRequest {
		t.Errorf("a 5-character password: %d, want 400", st)
	}
}
