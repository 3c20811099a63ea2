package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/internal/secret"
	"github.com/autocv/autocv/protocol/api"
)

// Cookies of a console session. The session cookie is HttpOnly; the CSRF
// cookie is readable by the console, which echoes it in CSRFHeader on every
// unsafe request (double submit). Bearer-token callers need no CSRF token:
// browsers never attach Authorization headers on their own.
const (
	SessionCookie = "autocv_session"
	CSRFCookie    = "autocv_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// Secret prefixes make leaked secrets easy to recognise and scan for.
const (
	prefixSession = "acvs_"
	prefixAPIKey  = "acvk_"
	prefixTrainer = "acvt_"
)

var (
	newSecret  = secret.New
	hashSecret = secret.Hash
)

// principal is who a request is from.
type principal struct {
	user   *store.User
	token  *store.Token // the credential the request came with
	kind   string       // store.TokenSession | TokenAPIKey | TokenTrainer
	cookie bool
}

const principalKey = "autocv.principal"

func who(c *gin.Context) *principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(*principal)
	return pr
}

// authenticate resolves the caller from a bearer token or the session
// cookie and refuses everything else. kinds lists the token kinds the route
// group accepts; an API key must also hold scope (api.Scope…; "" for
// none), a session may do whatever its user may.
func (s *Server) authenticate(scope string, kinds ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		secret, cookie := "", false
		if h := c.GetHeader("Authorization"); h != "" {
			t, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || t == "" {
				fail(c, api.CodeUnauthorized, "Authorization header must be \"Bearer <token>\"")
				return
			}
			secret = t
		} else if v, err := c.Cookie(SessionCookie); err == nil && v != "" {
			secret, cookie = v, true
		}
		if secret == "" {
			fail(c, api.CodeUnauthorized, "log in (POST /api/v1/auth/login) or send an API key as \"Authorization: Bearer <key>\"")
			return
		}
		tok, err := s.st.TokenByHash(c.Request.Context(), hashSecret(secret))
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.internal(c, err)
				return
			}
			fail(c, api.CodeUnauthorized, "token unknown, revoked or expired")
			return
		}
		if cookie && tok.Kind != store.TokenSession {
			fail(c, api.CodeUnauthorized, "session cookie is not a session")
			return
		}
		ok := false
		for _, k := range kinds {
			ok = ok || tok.Kind == k
		}
		if !ok {
			fail(c, api.CodeForbidden, "a "+tok.Kind+" token cannot call this endpoint")
			return
		}
		if cookie && !safeMethod(c.Request.Method) {
			// The token is derived from the session, so a cookie planted by
			// a sibling site cannot be paired with a known header value.
			got := c.GetHeader(CSRFHeader)
			if subtle.ConstantTimeCompare([]byte(s.csrfToken(secret)), []byte(got)) != 1 {
				fail(c, api.CodeCSRF, "missing or wrong "+CSRFHeader+" header for a cookie session")
				return
			}
		}
		if tok.Kind == store.TokenAPIKey && scope != "" && !hasScope(tok, scope) {
			failf(c, api.CodeForbidden, "this API key's scopes (%s) do not include %q, which this endpoint needs",
				strings.Join(tok.Scopes, ", "), scope)
			return
		}
		u, err := s.st.User(c.Request.Context(), tok.UserID)
		if err != nil {
			fail(c, api.CodeUnauthorized, "the token's user no longer exists")
			return
		}
		c.Set(principalKey, &principal{user: u, token: tok, kind: tok.Kind, cookie: cookie})
		c.Next()
	}
}

// csrfToken is the CSRF token of a session: an HMAC of its secret under a
// key derived from the server's signing key (shared by replicas).
func (s *Server) csrfToken(session string) string {
	k := sha256.Sum256(append([]byte("autocv csrf v1\x00"), s.key.Seed()...))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(session))
	return hex.EncodeToString(m.Sum(nil))
}

// hasScope says whether an API key may do what scope names; full
// includes infer.
func hasScope(t *store.Token, scope string) bool {
	return slices.Contains(t.Scopes, scope) || scope == api.ScopeInfer && slices.Contains(t.Scopes, api.ScopeFull)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func requireAdmin(c *gin.Context) {
	if p := who(c); p == nil || !p.user.Admin {
		fail(c, api.CodeForbidden, "only an admin may do this")
		return
	}
	c.Next()
}

// requireSession lets only a console session through: making users is
// never done with an API key, whatever its scopes.
func requireSession(c *gin.Context) {
	if p := who(c); p == nil || p.kind != store.TokenSession {
		fail(c, api.CodeForbidden, "log in to the console to do this; an API key may not")
		return
	}
	c.Next()
}

// owns reports whether the caller may see a row owned by ownerID; other
// users' rows answer 404 so their existence does not leak.
func owns(c *gin.Context, ownerID string) bool {
	p := who(c)
	return p != nil && (p.user.Admin || p.user.ID == ownerID)
}

// ownerFilter is the owner id to list by: "" (everyone) for admins.
func ownerFilter(c *gin.Context) string {
	if p := who(c); p.user.Admin {
		return ""
	}
	return who(c).user.ID
}

func (s *Server) login(c *gin.Context) {
	// JSON only: a form or text/plain post from another site could log a
	// browser into the attacker's account (login CSRF).
	if ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); ct != "application/json" {
		fail(c, api.CodeInvalidJSON, "log in with a JSON body and Content-Type: application/json")
		return
	}
	var req api.LoginRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Username == "" || req.Password == "" {
		fail(c, api.CodeInvalid, "username and password are required")
		return
	}
	if len(req.Username) > 64 {
		fail(c, api.CodeInvalid, "username: at most 64 bytes")
		return
	}
	ip := c.ClientIP()
	if wait := s.limiter.attempt(ip, req.Username); wait > 0 {
		c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		fail(c, api.CodeRateLimited, "too many failed logins; try again in "+wait.Round(time.Second).String())
		return
	}
	u, err := s.st.UserByName(c.Request.Context(), req.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(c, err)
		return
	}
	hash := dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	// Compare even for unknown users so timing does not tell them apart.
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(req.Password)) != nil || u == nil {
		s.log.Info("login failed", zap.String("user", req.Username), zap.String("ip", ip))
		fail(c, api.CodeBadCredentials, "wrong username or password")
		return
	}
	s.limiter.succeeded(ip, req.Username)
	secret := newSecret(prefixSession)
	tok := &store.Token{Kind: store.TokenSession, UserID: u.ID, Name: "console", Hash: hashSecret(secret),
		ExpiresAt: time.Now().Add(s.opt.SessionTTL)}
	if err := s.st.CreateToken(c.Request.Context(), tok); err != nil {
		s.internal(c, err)
		return
	}
	csrf := s.csrfToken(secret)
	secure := c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https"
	maxAge := int(s.opt.SessionTTL.Seconds())
	c.SetSameSite(http.SameSiteStrictMode)
	c.SetCookie(SessionCookie, secret, maxAge, "/", "", secure, true)
	c.SetCookie(CSRFCookie, csrf, maxAge, "/", "", secure, false)
	c.JSON(http.StatusOK, api.LoginResponse{Token: secret, CSRFToken: csrf, ExpiresAt: tok.ExpiresAt.UTC(), User: userJSON(u)})
}

func (s *Server) logout(c *gin.Context) {
	p := who(c)
	if p.kind != store.TokenSession {
		fail(c, api.CodeForbidden, "logout ends a console session; an API key has none (revoke it with DELETE /api/v1/apikeys/{id})")
		return
	}
	_ = s.st.DeleteToken(c.Request.Context(), p.user.ID, p.token.ID)
	c.SetCookie(SessionCookie, "", -1, "/", "", false, true)
	c.SetCookie(CSRFCookie, "", -1, "/", "", false, false)
	c.Status(http.StatusNoContent)
}

func userJSON(u *store.User) api.User {
	return api.User{ID: u.ID, Username: u.Username, Admin: u.Admin, CreatedAt: u.CreatedAt.UTC()}
}

func (s *Server) me(c *gin.Context) { c.JSON(http.StatusOK, userJSON(who(c).user)) }

// dummyHash is compared against when the user does not exist.
var dummyHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)
	return string(h)
}()

// Password rules: long enough to matter, short enough for bcrypt (72 bytes).
func checkPassword(p string) error {
	switch {
	case utf8.RuneCountInString(p) < 8:
		return errors.New("password must have at least 8 characters")
	case len(p) > 72:
		return errors.New("password must be at most 72 bytes")
	}
	return nil
}

func hashPassword(p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
	return string(h), err
}

func (s *Server) createUser(c *gin.Context) {
	var req api.CreateUserRequest
	if !bindJSON(c, &req) {
		return
	}
	if !api.ValidName(req.Username, 64) {
		fail(c, api.CodeInvalid, "username must be 1–64 letters, digits, Chinese characters, '_', '-' or '.'")
		return
	}
	if err := checkPassword(req.Password); err != nil {
		fail(c, api.CodeInvalid, err.Error())
		return
	}
	h, err := hashPassword(req.Password)
	if err != nil {
		s.internal(c, err)
		return
	}
	u := &store.User{Username: req.Username, PasswordHash: h, Admin: req.Admin}
	if err := s.st.CreateUser(c.Request.Context(), u); err != nil {
		s.createError(c, err)
		return
	}
	c.JSON(http.StatusCreated, userJSON(u))
}

func (s *Server) changePassword(c *gin.Context) {
	var req api.PasswordRequest
	if !bindJSON(c, &req) {
		return
	}
	u := who(c).user
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(req.OldPassword)) != nil {
		fail(c, api.CodeWrongPassword, "old password is wrong")
		return
	}
	if err := checkPassword(req.NewPassword); err != nil {
		fail(c, api.CodeInvalid, err.Error())
		return
	}
	h, err := hashPassword(req.NewPassword)
	if err != nil {
		s.internal(c, err)
		return
	}
	if err := s.st.SetPassword(c.Request.Context(), u.ID, h); err != nil {
		s.internal(c, err)
		return
	}
	// Other sessions end (a suspected compromise is why people change
	// passwords); this one and API keys stay.
	if ts, err := s.st.Tokens(c.Request.Context(), u.ID, store.TokenSession); err == nil {
		for _, t := range ts {
			if t.ID != who(c).token.ID {
				_ = s.st.DeleteToken(c.Request.Context(), u.ID, t.ID)
			}
		}
	}
	c.Status(http.StatusNoContent)
}

func tokenJSON(t *store.Token) api.Token {
	out := api.Token{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()}
	if t.Kind == store.TokenAPIKey { // others have no scopes (trainer tokens: the job API)
		out.Scopes, out.Services = t.Scopes, t.Services
	}
	if !t.LastUsed.IsZero() {
		used := t.LastUsed.UTC()
		out.LastUsed = &used
	}
	return out
}

// keyScopes checks an API key request's scopes (default: infer) and
// services (inference keys only; each a service path).
func keyScopes(req api.TokenRequest) (scopes, services []string, err error) {
	scopes = req.Scopes
	if len(scopes) == 0 {
		scopes = []string{api.ScopeInfer}
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	for _, sc := range scopes {
		if sc != api.ScopeInfer && sc != api.ScopeFull && sc != api.ScopeKeys {
			return nil, nil, fmt.Errorf("scope %q is unknown; want infer, full or keys", sc)
		}
	}
	if len(req.Services) > 0 && !slices.Equal(scopes, []string{api.ScopeInfer}) {
		return nil, nil, errors.New("services limit an inference key; a key with services has the scope infer only")
	}
	if len(req.Services) > 100 {
		return nil, nil, errors.New("at most 100 services per key")
	}
	for _, p := range req.Services {
		if !servicePathRE.MatchString(p) {
			return nil, nil, fmt.Errorf("service path %q: 1–4 segments of lowercase letters, digits, '_' or '-'", p)
		}
	}
	return scopes, req.Services, nil
}

// createToken makes an API key (any user) or a trainer token (admins).
func (s *Server) createToken(kind, prefix string) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req api.TokenRequest
		if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
			return
		}
		if req.Name == "" {
			req.Name = kind
		}
		if utf8.RuneCountInString(req.Name) > 64 {
			fail(c, api.CodeInvalid, "name must be at most 64 characters")
			return
		}
		tok := &store.Token{Kind: kind, UserID: who(c).user.ID, Name: req.Name}
		if kind == store.TokenAPIKey {
			var err error
			if tok.Scopes, tok.Services, err = keyScopes(req); err != nil {
				fail(c, api.CodeInvalid, err.Error())
				return
			}
			// A key makes keys of at most its own scopes: keys is not a
			// way to full access.
			if p := who(c); p.kind == store.TokenAPIKey {
				for _, sc := range tok.Scopes {
					if !hasScope(p.token, sc) {
						failf(c, api.CodeForbidden, "this API key may not make a key with scope %q, which it lacks", sc)
						return
					}
				}
			}
		} else if len(req.Scopes)+len(req.Services) > 0 {
			fail(c, api.CodeInvalid, "a trainer token calls the job API only; it takes no scopes or services")
			return
		}
		secret := newSecret(prefix)
		tok.Hash = hashSecret(secret)
		if err := s.st.CreateToken(c.Request.Context(), tok); err != nil {
			s.internal(c, err)
			return
		}
		body := tokenJSON(tok)
		if kind == store.TokenAPIKey {
			body.Key = secret
		} else {
			body.Token = secret
		}
		c.JSON(http.StatusCreated, body)
	}
}

func (s *Server) listTokens(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ts, err := s.st.Tokens(c.Request.Context(), who(c).user.ID, kind)
		if err != nil {
			s.internal(c, err)
			return
		}
		items := make([]api.Token, 0, len(ts))
		for i := range ts {
			items = append(items, tokenJSON(&ts[i]))
		}
		c.JSON(http.StatusOK, api.TokenList{Items: items, Total: len(items)})
	}
}

// deleteToken revokes one of the caller's tokens of kind: DELETE
// /apikeys/{id} never ends a session or a trainer token.
func (s *Server) deleteToken(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ts, err := s.st.Tokens(c.Request.Context(), who(c).user.ID, kind)
		if err != nil {
			s.internal(c, err)
			return
		}
		if !slices.ContainsFunc(ts, func(t store.Token) bool { return t.ID == c.Param("id") }) {
			fail(c, api.CodeNotFound, kind+" "+c.Param("id")+" not found")
			return
		}
		if err := s.st.DeleteToken(c.Request.Context(), who(c).user.ID, c.Param("id")); err != nil {
			s.lookupError(c, err, kind+" "+c.Param("id"))
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// NewTrainerToken makes a trainer token's secret and the hash the store
// keeps of it (for the local trainers autocv-server starts).
func NewTrainerToken() (secret, hash string) {
	secret = newSecret(prefixTrainer)
	return secret, hashSecret(secret)
}

// HashPassword checks a password against the rules and bcrypt-hashes it.
func HashPassword(p string) (string, error) {
	if err := checkPassword(p); err != nil {
		return "", err
	}
	return hashPassword(p)
}
