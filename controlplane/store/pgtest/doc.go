// Package pgtest gives tests a real PostgreSQL: once per test binary it
// runs initdb and postgres from the local PostgreSQL installation in a
// temporary folder, listening on a free 127.0.0.1 port (and a unix socket
// in that folder), and hands every caller a fresh, empty database.
//
// Use it from a package's TestMain so the server is stopped and its folder
// removed when the tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.DSN(t) // postgres://postgres@127.0.0.1:PORT/t_…?sslmode=disable
//		…
//	}
//
// The server also dies with the test binary when that is killed (it gets
// SIGQUIT, PostgreSQL's immediate shutdown, as its parent-death signal), so
// a timed-out or crashed test run leaves no postgres behind; the folder
// such a run leaves is removed by the next run.
//
// The binaries come from $AUTOCV_PGBIN, else /usr/lib/postgresql/15/bin,
// else the newest /usr/lib/postgresql/*/bin. When none is found DSN skips
// the test, or fails it under CI=true. Run as root, initdb and postgres run
// as the "postgres" OS user (they refuse root). The package runs servers on
// Linux only; elsewhere DSN skips (fails under CI=true).
package pgtest
