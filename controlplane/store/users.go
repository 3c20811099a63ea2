package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// maxName bounds the free-text names people give things.
const maxName = 200

func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("store: %s is empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("store: %s is not valid UTF-8", what)
	case utf8.RuneCountInString(s) > maxName:
		return fmt.Errorf("store: %s is %d characters long, at most %d allowed", what, utf8.RuneCountInString(s), maxName)
	}
	return nil
}

func checkHash(what, h string) error {
	if !hexSHA256.MatchString(h) {
		return fmt.Errorf("store: %s %q is not a lowercase hex SHA-256", what, h)
	}
	return nil
}

const userCols = "id, username, password_hash, admin, created_at"

func scanUser(sc interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created int64
	if err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Admin, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = fromMS(created)
	return &u, nil
}

func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	if err := checkName("username", u.Username); err != nil {
		return err
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("store: user %q has no password hash", u.Username)
	}
	id, now := newID("usr"), s.now()
	_, err := s.rdb().exec(ctx, "INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?)",
		id, u.Username, u.PasswordHash, u.Admin, ms(now))
	if isUnique(err) {
		return fmt.Errorf("store: username %q is taken: %w", u.Username, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	u.ID, u.CreatedAt = id, fromMS(ms(now))
	return nil
}

func (s *sqlStore) UserByName(ctx context.Context, username string) (*User, error) {
	u, err := scanUser(s.rdb().row(ctx, "SELECT "+userCols+" FROM users WHERE username = ?", username))
	return u, one(err, "user", username)
}

func (s *sqlStore) User(ctx context.Context, id string) (*User, error) {
	u, err := scanUser(s.rdb().row(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	return u, one(err, "user", id)
}

func (s *sqlStore) SetPassword(ctx context.Context, userID, hash string) error {
	if hash == "" {
		return fmt.Errorf("store: empty password hash for user %s", userID)
	}
	n, err := s.rdb().execN(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", hash, userID)
	if err != nil {
		return fmt.Errorf("store: set password of %s: %w", userID, err)
	}
	if n == 0 {
		return notFound("user", userID)
	}
	return nil
}

func (s *sqlStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb().row(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

const tokenCols = "id, kind, user_id, name, hash, created_at, expires_at, last_used, scopes, services"

func scanToken(sc interface{ Scan(...any) error }) (*Token, error) {
	var t Token
	var created, expires, used int64
	var scopes, services string
	if err := sc.Scan(&t.ID, &t.Kind, &t.UserID, &t.Name, &t.Hash, &created, &expires, &used, &scopes, &services); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsed = fromMS(created), fromMS(expires), fromMS(used)
	t.Scopes, t.Services = strings.Fields(scopes), strings.Fields(services)
	return &t, nil
}

func (s *sqlStore) CreateToken(ctx context.Context, t *Token) error {
	switch t.Kind {
	case TokenSession, TokenAPIKey, TokenTrainer:
	default:
		return fmt.Errorf("store: unknown token kind %q (want %s, %s or %s)", t.Kind, TokenSession, TokenAPIKey, TokenTrainer)
	}
	if err := checkHash("token hash", t.Hash); err != nil {
		return err
	}
	if len(t.Name) > maxName {
		return fmt.Errorf("store: token name is %d bytes long, at most %d allowed", len(t.Name), maxName)
	}
	id, now := newID("tok"), s.now()
	_, err := s.rdb().exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
		id, t.Kind, t.UserID, t.Name, t.Hash, ms(now), ms(t.ExpiresAt), strings.Join(t.Scopes, " "), strings.Join(t.Services, "\n"))
	switch {
	case isForeignKey(err):
		return notFound("user", t.UserID)
	case isUnique(err):
		return fmt.Errorf("store: a token with that hash exists: %w", ErrConflict)
	case err != nil:
		return fmt.Errorf("store: create token: %w", err)
	}
	t.ID, t.CreatedAt, t.LastUsed = id, fromMS(ms(now)), time.Time{}
	return nil
}

// lastUsedEvery is how often TokenByHash writes LastUsed: a busy API key
// must not turn every request into a write.
const lastUsedEvery = time.Minute

func (s *sqlStore) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	t, err := scanToken(s.rdb().row(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash))
	if err := one(err, "token", "(by hash)"); err != nil {
		return nil, err
	}
	now := s.now()
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, fmt.Errorf("store: token %s expired at %s: %w", t.ID, t.ExpiresAt.Format(time.RFC3339), ErrNotFound)
	}
	if now.Sub(t.LastUsed) >= lastUsedEvery {
		n, err := s.rdb().execN(ctx, "UPDATE tokens SET last_used = ? WHERE id = ? AND last_used <= ?",
			ms(now), t.ID, ms(now.Add(-lastUsedEvery)))
		if err != nil {
			return nil, fmt.Errorf("store: token %s: record use: %w", t.ID, err)
		}
		if n > 0 {
			t.LastUsed = fromMS(ms(now))
		}
	}
	return t, nil
}

func (s *sqlStore) Tokens(ctx context.Context, userID, kind string) ([]Token, error) {
	rows, err := s.rdb().query(ctx, "SELECT "+tokenCols+` FROM tokens
		WHERE (? = '' OR user_id = ?) AND (? = '' OR kind = ?) ORDER BY created_at, id`,
		userID, userID, kind, kind)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteToken(ctx context.Context, userID, id string) error {
	n, err := s.rdb().execN(ctx, "DELETE FROM tokens WHERE id = ? AND (? = '' OR user_id = ?)", id, userID, userID)
	if err != nil {
		return fmt.Errorf("store: delete token %s: %w", id, err)
	}
	if n == 0 {
		return notFound("token", id)
	}
	return nil
}
