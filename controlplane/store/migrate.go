package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Migrations are embedded files named NNN_what.sql, applied in number
// order, each in its own transaction together with its row in
// schema_migrations. Never edit an applied migration; add the next number.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the PostgreSQL advisory lock held while migrating, so
// replicas that start together migrate one after the other.
const migrationLockKey = 0x6175746f6376 // "autocv" in ASCII

type migration struct {
	version int
	name    string
	stmts   []string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("store: migration %s: name must start with a number and '_'", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s share number %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, stmts: splitSQL(string(b))})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// splitSQL cuts a migration into statements at lines ending in ";" and
// drops "--" comment lines. Our migrations keep to that shape.
func splitSQL(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// migrate applies the migrations the database has not seen yet. It is safe
// to run from several processes at once: PostgreSQL serialises them with an
// advisory lock, SQLite with its write lock, and each migration re-checks
// schema_migrations inside its own transaction.
func (s *sqlStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer c.Close()
	if s.d.postgres {
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("store: migrate: take lock: %w", err)
		}
		defer func() {
			// A fresh context: the lock must go even when ctx ended.
			if _, err := c.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
				s.log.Warn("store: release migration lock", zap.Error(err))
			}
		}()
	}
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		if !isUnique(err) { // two PostgreSQL sessions racing on CREATE … IF NOT EXISTS
			return fmt.Errorf("store: migrate: create schema_migrations: %w", err)
		}
	}
	for _, m := range ms {
		applied, err := s.apply(ctx, c, m)
		if err != nil {
			return err
		}
		if applied {
			s.log.Info("store: migrated", zap.String("db", s.d.name()), zap.Int("version", m.version), zap.String("name", m.name))
		}
	}
	return nil
}

// apply runs one migration in its own transaction unless it is recorded.
func (s *sqlStore) apply(ctx context.Context, c *sql.Conn, m migration) (bool, error) {
	t, err := c.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: migration %s: begin: %w", m.name, err)
	}
	defer t.Rollback()
	tc := conn{q: t, d: s.d}
	var n int
	if err := tc.row(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return false, fmt.Errorf("store: migration %s: %w", m.name, err)
	}
	if n > 0 {
		return false, nil
	}
	for i, st := range m.stmts {
		if _, err := t.ExecContext(ctx, st); err != nil {
			return false, fmt.Errorf("store: migration %s statement %d: %w", m.name, i+1, err)
		}
	}
	if _, err := tc.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, s.nowMS()); err != nil {
		return false, fmt.Errorf("store: migration %s: record: %w", m.name, err)
	}
	if err := t.Commit(); err != nil {
		return false, fmt.Errorf("store: migration %s: commit: %w", m.name, err)
	}
	return true, nil
}
