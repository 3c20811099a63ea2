package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/controlplane/store/pgtest"
	"github.com/autocv/autocv/protocol/jobs"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one store under test with its clock.
type env struct {
	S     store.Store
	DSN   string
	clock *clock
}

// clock is a settable time source shared with the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// forEachStore runs fn against a fresh SQLite file and a fresh PostgreSQL
// database: the conformance suite both implementations must pass.
func forEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dsn string
			if db == "sqlite" {
				dsn = "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
			} else {
				dsn = pgtest.DSN(t)
			}
			e := &env{DSN: dsn, S: open(t, dsn), clock: &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}}
			store.SetClock(e.S, e.clock.Now)
			fn(t, e)
		})
	}
}

func open(t *testing.T, dsn string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// rawDB opens the store's database directly, for checks the interface
// cannot make.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, name := "pgx", dsn
	if len(dsn) > 7 && dsn[:7] == "sqlite:" {
		driver, name = "sqlite", dsn[7:]
	}
	db, err := sql.Open(driver, name)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		u := &store.User{Username: "admin", PasswordHash: "x", Admin: true}
		must(t, e.S.CreateUser(ctx, u))
		must(t, e.S.Close())

		// Reopen, three at once: migrations must neither fail nor repeat.
		var wg sync.WaitGroup
		stores := make([]store.Store, 3)
		errs := make([]error, 3)
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = store.Open(ctx, e.DSN, zaptest.NewLogger(t))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("reopen %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		got, err := stores[2].UserByName(ctx, "admin")
		must(t, err)
		if got.ID != u.ID || !got.Admin {
			t.Fatalf("after reopen: %+v, want %+v", got, u)
		}
		var n, distinct int
		db := rawDB(t, e.DSN)
		must(t, db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct))
		files, err := os.ReadDir("migrations")
		must(t, err)
		if n != len(files) || n != distinct {
			t.Fatalf("schema_migrations has %d rows (%d versions) for %d migration files", n, distinct, len(files))
		}
	})
}

func TestOpenRefusesBadAddresses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"",
		"sqlite:",
		"sqlite:" + filepath.Join(t.TempDir(), "x.db") + "?_txlock=deferred",
		"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		"mysql://root:secret@127.0.0.1/autocv",
	} {
		s, err := store.Open(ctx, dsn, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) worked, want an error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

func TestUsersAndTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		if n, err := s.CountUsers(ctx); err != nil || n != 0 {
			t.Fatalf("CountUsers = %d, %v", n, err)
		}
		alice := &store.User{Username: "alice", PasswordHash: "h1"}
		must(t, s.CreateUser(ctx, alice))
		if alice.ID == "" || alice.CreatedAt.IsZero() {
			t.Fatalf("CreateUser did not set ID/CreatedAt: %+v", alice)
		}
		wantErr(t, s.CreateUser(ctx, &store.User{Username: "alice", PasswordHash: "h2"}), store.ErrConflict)
		if err := s.CreateUser(ctx, &store.User{Username: "", PasswordHash: "h"}); err == nil {
			t.Fatal("empty username accepted")
		}
		must(t, s.SetPassword(ctx, alice.ID, "h3"))
		wantErr(t, s.SetPassword(ctx, "usr_nobody", "h"), store.ErrNotFound)
		got, err := s.User(ctx, alice.ID)
		must(t, err)
		if got.PasswordHash != "h3" || got.Username != "alice" {
			t.Fatalf("User = %+v", got)
		}
		_, err = s.UserByName(ctx, "bob")
		wantErr(t, err, store.ErrNotFound)
		if n, _ := s.CountUsers(ctx); n != 1 {
			t.Fatalf("CountUsers = %d, want 1", n)
		}

		session := &store.Token{Kind: store.TokenSession, UserID: alice.ID, Hash: sum("s1"), ExpiresAt: e.clock.Now().Add(time.Hour)}
		key := &store.Token{Kind: store.TokenAPIKey, UserID: alice.ID, Name: "ci key", Hash: sum("k1")}
		must(t, s.CreateToken(ctx, session))
		must(t, s.CreateToken(ctx, key))
		wantErr(t, s.CreateToken(ctx, &store.Token{Kind: store.TokenAPIKey, UserID: alice.ID, Hash: sum("k1")}), store.ErrConflict)
		wantErr(t, s.CreateToken(ctx, &store.Token{Kind: store.TokenAPIKey, UserID: "usr_nobody", Hash: sum("k2")}), store.ErrNotFound)
		for _, bad := range []store.Token{
			{Kind: "root", UserID: alice.ID, Hash: sum("k3")},
			{Kind: store.TokenAPIKey, UserID: alice.ID, Hash: "not-hex"},
		} {
			if err := s.CreateToken(ctx, &bad); err == nil {
				t.Errorf("CreateToken(%+v) accepted", bad)
			}
		}

		tok, err := s.TokenByHash(ctx, sum("k1"))
		must(t, err)
		if tok.ID != key.ID || tok.Name != "ci key" || !tok.LastUsed.Equal(e.clock.Now()) {
			t.Fatalf("TokenByHash = %+v, want key with LastUsed now", tok)
		}
		first := tok.LastUsed
		e.clock.Advance(10 * time.Second)
		tok, _ = s.TokenByHash(ctx, sum("k1"))
		if !tok.LastUsed.Equal(first) {
			t.Fatalf("LastUsed written again after 10s: %v", tok.LastUsed)
		}
		e.clock.Advance(time.Minute)
		tok, _ = s.TokenByHash(ctx, sum("k1"))
		if !tok.LastUsed.Equal(e.clock.Now()) {
			t.Fatalf("LastUsed %v not renewed after a minute", tok.LastUsed)
		}

		if _, err := s.TokenByHash(ctx, sum("s1")); err != nil {
			t.Fatalf("live session: %v", err)
		}
		e.clock.Advance(time.Hour)
		_, err = s.TokenByHash(ctx, sum("s1"))
		wantErr(t, err, store.ErrNotFound)
		_, err = s.TokenByHash(ctx, sum("unknown"))
		wantErr(t, err, store.ErrNotFound)

		all, err := s.Tokens(ctx, alice.ID, "")
		must(t, err)
		keys, err := s.Tokens(ctx, alice.ID, store.TokenAPIKey)
		must(t, err)
		if len(all) != 2 || len(keys) != 1 || keys[0].ID != key.ID {
			t.Fatalf("Tokens: all %d, keys %+v", len(all), keys)
		}
		wantErr(t, s.DeleteToken(ctx, "usr_other", key.ID), store.ErrNotFound)
		must(t, s.DeleteToken(ctx, alice.ID, key.ID))
		must(t, s.DeleteToken(ctx, "", session.ID)) // admin: any owner
		if all, _ := s.Tokens(ctx, "", ""); len(all) != 0 {
			t.Fatalf("tokens left: %+v", all)
		}
	})
}

// addDataset makes a dataset with n images under each label.
func addDataset(t *testing.T, s store.Store, name string, n int, labels ...string) (*store.Dataset, []store.Image) {
	t.Helper()
	ctx := ctxT(t)
	d := &store.Dataset{OwnerID: "usr_owner", Name: name}
	must(t, s.CreateDataset(ctx, d))
	var ims []store.Image
	for _, l := range labels {
		for i := 0; i < n; i++ {
			ims = append(ims, store.Image{Label: l, SHA256: sum(fmt.Sprint(name, l, i)), Size: 1000, Width: 64, Height: 48, Source: fmt.Sprintf("%s/%d.jpg", l, i)})
		}
	}
	added, err := s.AddImages(ctx, d.ID, ims)
	must(t, err)
	if len(added) != len(ims) {
		t.Fatalf("added %d of %d", len(added), len(ims))
	}
	return d, added
}

// jobFor is a job spec over images, split alternately into train and test.
func jobFor(ims []store.Image, labels ...string) jobs.Job {
	j := jobs.Job{Labels: labels, Seed: 1}
	for i, im := range ims {
		split := jobs.SplitTrain
		if i%3 == 2 {
			split = jobs.SplitTest
		}
		j.Images = append(j.Images, jobs.Image{ID: im.ID, SHA256: im.SHA256, Label: im.Label, Split: split})
	}
	return j
}

func addModel(t *testing.T, s store.Store) *store.Model {
	t.Helper()
	m := &store.Model{OwnerID: "usr_owner", Name: "flowers", Contact: "ops@example.com"}
	must(t, s.CreateModel(ctxT(t), m))
	return m
}

// queue creates one version (and job) per spec and returns the versions.
func queue(t *testing.T, s store.Store, m *store.Model, specs ...jobs.Job) []store.Version {
	t.Helper()
	vs := make([]store.Version, len(specs))
	for i := range vs {
		vs[i] = store.Version{AppType: jobs.CloudGeneral, Metric: "f1"}
	}
	out, err := s.CreateVersions(ctxT(t), m.ID, vs, specs)
	must(t, err)
	return out
}
