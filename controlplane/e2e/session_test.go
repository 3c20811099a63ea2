package e2e_test

import (
	"net/http"
	"testing"

	"github.com/autocv/autocv/protocol/api"
)

// TestPasswordChange: changing a password ends the user's other sessions,
// keeps the one that changed it, and the old password stops working.
func TestPasswordChange(t *testing.T) {
	s := startServer(t, serverOpts{})
	ctx := t.Context()
	admin := s.admin(t)
	if _, err := admin.CreateUser(ctx, api.CreateUserRequest{Username: "carol", Password: "carol-password-1"}); err != nil {
		t.Fatalf("create user: %v", err)
	}
	a := s.login(t, "carol", "carol-password-1")
	b := s.login(t, "carol", "carol-password-1")
	// scope full: the key may read /me, as the sessions do
	key, err := a.CreateAPIKey(ctx, api.TokenRequest{Name: "script", Scopes: []string{api.ScopeFull}})
	if err != nil {
		t.Fatalf("api key: %v", err)
	}
	if err := a.ChangePassword(ctx, api.PasswordRequest{OldPassword: "carol-password-1", NewPassword: "carol-password-2"}); err != nil {
		t.Fatalf("change password: %v", err)
	}
	if _, err := a.Me(ctx); err != nil {
		t.Errorf("the session that changed the password: %v, want 200", err)
	}
	if _, err := b.Me(ctx); errStatus(t, err) != http.StatusUnauthorized {
		t.Errorf("another session after the change: %v, want 401", err)
	}
	if _, err := newClient(t, s.URL, key.Key).Me(ctx); err != nil {
		t.Errorf("API key after the change: %v, want 200 (keys are revoked on their own)", err)
	}
	_, err = newClient(t, s.URL, "").Login(ctx, api.LoginRequest{Username: "carol", Password: "carol-password-1"})
	if errStatus(t, err) != http.StatusUnauthorized {
		t.Errorf("login with the old password: %v, want 401", err)
	}
	s.login(t, "carol", "carol-password-2")
	err = a.ChangePassword(ctx, api.PasswordRequest{OldPassword: "carol-password-2", NewPassword: "short"})
	if errStatus(t, err) != http.StatusBadRequest {
		t.Errorf("a 5-character password: %v, want 400", err)
	}
}
