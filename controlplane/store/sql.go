package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"go.uber.org/zap"
	"modernc.org/sqlite" // driver "sqlite"
)

// sqlStore is the one Store implementation; dialect holds what differs
// between SQLite and PostgreSQL.
type sqlStore struct {
	db  *sql.DB
	d   dialect
	log *zap.Logger
	// now is the clock; tests replace it to expire leases and tokens
	// without sleeping.
	now func() time.Time
}

// dialect is the SQL that differs between the two databases.
type dialect struct {
	postgres bool
}

func (d dialect) name() string {
	if d.postgres {
		return "postgres"
	}
	return "sqlite"
}

// rebind turns the "?" placeholders of q into $1, $2 … for PostgreSQL. Our
// queries never hold a literal "?" inside a string.
func (d dialect) rebind(q string) string {
	if !d.postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// forUpdate locks the selected rows until the transaction ends. SQLite
// needs none: its write transactions take the database lock up front.
func (d dialect) forUpdate() string {
	if d.postgres {
		return " FOR UPDATE"
	}
	return ""
}

// skipLocked is forUpdate for queue reads: rows another transaction holds
// are skipped instead of waited for.
func (d dialect) skipLocked() string {
	if d.postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// text makes a text column sort by bytes on PostgreSQL too, whatever the
// database's collation, so both databases list labels in the same order.
func (d dialect) text(col string) string {
	if d.postgres {
		return col + ` COLLATE "C"`
	}
	return col
}

// Open connects to the database named by dsn and brings its schema up to
// date. dsn is postgres://… or postgresql://… for PostgreSQL, and
// sqlite:PATH or a plain file path for SQLite (the file is created).
func Open(ctx context.Context, dsn string, log *zap.Logger) (Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("store: empty database address; give a file path or postgres://user:pass@host/db")
	}
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d.postgres = true
		db, err = sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: postgres address: %w", err)
		}
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
	} else if !strings.HasPrefix(dsn, "sqlite:") && strings.Contains(dsn, "://") {
		return nil, fmt.Errorf("store: unknown database address %q: use postgres://user:pass@host/db, sqlite:PATH or a file path", redact(dsn))
	} else {
		db, err = openSQLite(dsn)
		if err != nil {
			return nil, err
		}
	}
	s := &sqlStore{db: db, d: d, log: log, now: time.Now}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", d.name(), err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// redact hides the password of a URL-shaped address for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable address)"
	}
	return u.Redacted()
}

// openSQLite opens (creating) the SQLite file at dsn ("sqlite:PATH" or a
// path). Every connection gets WAL, a 15 s busy timeout and foreign keys,
// and BEGIN IMMEDIATE: a write transaction takes the write lock when it
// starts, so two leases cannot both read a job as queued and then deadlock
// upgrading their locks.
func openSQLite(dsn string) (*sql.DB, error) {
	path := strings.TrimPrefix(dsn, "sqlite:")
	path = strings.TrimPrefix(path, "//")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return nil, fmt.Errorf("store: sqlite path %q: options are set by the server, remove %q", path, path[i:])
	}
	if path == "" {
		return nil, fmt.Errorf("store: sqlite address %q has no file path", dsn)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("store: sqlite folder: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "busy_timeout(15000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	// Writers queue on the database lock anyway; a small pool keeps readers
	// concurrent (WAL) without piling up waiting writers.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	return db, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with "?" placeholders on a database, a
// transaction or a connection.
type conn struct {
	q querier
	d dialect
}

func (c conn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(q), args...)
}

// execN is exec that returns the number of rows changed.
func (c conn) execN(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := c.exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (c conn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(q), args...)
}

func (c conn) row(ctx context.Context, q string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(q), args...)
}

// rdb runs single statements outside a transaction.
func (s *sqlStore) rdb() conn { return conn{q: s.db, d: s.d} }

// tx runs fn in one transaction and commits it when fn returns nil. On
// SQLite the transaction holds the write lock from its start.
func (s *sqlStore) tx(ctx context.Context, fn func(c conn) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(conn{q: t, d: s.d}); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// nowMS is the store clock in Unix milliseconds.
func (s *sqlStore) nowMS() int64 { return s.now().UnixMilli() }

// ms stores a time as Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms, in UTC.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns prefix + "_" + 20 random lowercase base32 characters
// (100 bits), e.g. "ds_k5q…". The shape passes protocol/jobs' id rule and
// protocol/fleet.ValidateDeviceID.
func newID(prefix string) string {
	var b [13]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: no randomness: " + err.Error())
	}
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))[:20]
}

// notFound wraps ErrNotFound with what was looked for.
func notFound(what string, key ...any) error {
	return fmt.Errorf("store: %s %v: %w", what, fmt.Sprint(key...), ErrNotFound)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// one maps sql.ErrNoRows to notFound and wraps other errors.
func one(err error, what string, key ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what, key...)
	}
	if err != nil {
		return fmt.Errorf("store: %s %v: %w", what, fmt.Sprint(key...), err)
	}
	return nil
}

// isUnique reports a unique or primary key violation on either database.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return true
		}
		return se.Code()&0xff == 19 && strings.Contains(se.Error(), "UNIQUE constraint failed")
	}
	return false
}

// isForeignKey reports a foreign key violation on either database.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 787 || se.Code()&0xff == 19 && strings.Contains(se.Error(), "FOREIGN KEY constraint failed")
	}
	return false
}

// limits applies Page's defaults: Limit ≤ 0 is 50, at most 1000.
func (p Page) limits() (limit, offset int) {
	limit, offset = p.Limit, p.Offset
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// rawJSON turns a stored TEXT column back into JSON; "" is nil.
func rawJSON(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// textOf stores JSON (or nothing) as TEXT.
func textOf(b []byte) string { return string(b) }
