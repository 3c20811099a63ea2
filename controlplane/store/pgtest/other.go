//go:build !linux

package pgtest

import (
	"os"
	"testing"
)

// Main runs the tests.
func Main(m *testing.M) { os.Exit(m.Run()) }

// Stop does nothing: no server runs on this system.
func Stop() {}

// DSN skips the test (fails it under CI=true): pgtest starts PostgreSQL
// on Linux only.
func DSN(t testing.TB) string {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("pgtest: PostgreSQL test servers run on Linux only")
	}
	t.Skip("pgtest: PostgreSQL test servers run on Linux only")
	return ""
}
