package api

import "time"

// LoginRequest is POST /auth/login.
type LoginRequest struct {
	Username string `json:"username" required:"true" example:"admin"`
	Password string `json:"password" required:"true" example:"correct horse battery staple"`
}

// LoginResponse is a new console session: the token (also set as the
// session cookie) and the CSRF token unsafe console requests echo in the
// X-CSRF-Token header.
type LoginResponse struct {
	Token     string    `json:"token" required:"true"`
	CSRFToken string    `json:"csrf_token" required:"true"`
	ExpiresAt time.Time `json:"expires_at" required:"true"`
	User      User      `json:"user" required:"true"`
}

// User is an account.
type User struct {
	ID        string    `json:"id" required:"true" example:"usr_01j9z3k4"`
	Username  string    `json:"username" required:"true" example:"alice"`
	Admin     bool      `json:"admin" required:"true"`
	CreatedAt time.Time `json:"created_at" required:"true"`
}

// CreateUserRequest is POST /users (admin).
type CreateUserRequest struct {
	Username string `json:"username" required:"true" example:"alice" description:"1–64 letters, digits, '_', '-', '.'"`
	Password string `json:"password" required:"true" minLength:"8"`
	Admin    bool   `json:"admin"`
}

// PasswordRequest is POST /me/password.
type PasswordRequest struct {
	OldPassword string `json:"old_password" required:"true"`
	NewPassword string `json:"new_password" required:"true" minLength:"8"`
}

// Scopes of an API key. A console session may do everything its user
// may; a key only what its scopes say.
const (
	ScopeInfer = "infer" // POST /infer/{path}: the cloud APIs (only Services, when set)
	ScopeFull  = "full"  // everything a session may do but manage credentials
	ScopeKeys  = "keys"  // manage API keys, trainer tokens, users and the password
)

// TokenRequest creates an API key or a trainer token.
type TokenRequest struct {
	Name string `json:"name" maxLength:"64" example:"nightly-script" description:"defaults to the token kind"`
	// Scopes (API keys only) default to ["infer"]: a key for calling the
	// cloud APIs. Ask for "full" or "keys" explicitly.
	Scopes []string `json:"scopes,omitempty" items.enum:"infer,full,keys" example:"[\"infer\"]"`
	// Services limits an inference key to these service paths.
	Services []string `json:"services,omitempty" example:"[\"factory/defects\"]"`
}

// Token is an API key or a trainer token. Key (API keys) or Token
// (trainer tokens) holds the secret in the answer that creates it, and
// never again.
type Token struct {
	ID        string     `json:"id" required:"true"`
	Name      string     `json:"name" required:"true"`
	CreatedAt time.Time  `json:"created_at" required:"true"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Scopes    []string   `json:"scopes,omitempty" items.enum:"infer,full,keys" description:"API keys: what the key may do"`
	Services  []string   `json:"services,omitempty" description:"API keys: the service paths it may call (none: all)"`
	Key       string     `json:"key,omitempty" description:"the API key; shown once"`
	Token     string     `json:"token,omitempty" description:"the trainer token; shown once"`
}

// TokenList lists API keys or trainer tokens, secrets left out.
type TokenList struct {
	Items []Token `json:"items" required:"true"`
	Total int     `json:"total" required:"true"`
}

// Health is GET /healthz and /readyz. /readyz stays 200 while trainers
// report problems (the API serves), and lists them.
type Health struct {
	Status   string    `json:"status" required:"true" example:"ok"`
	Error    string    `json:"error,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}
