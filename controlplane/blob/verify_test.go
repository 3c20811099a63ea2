package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Scrub finds and quarantines a blob whose bytes changed, leaves the good
// ones, and a VerifyingReader ends a corrupt stream with ErrCorrupt.
func TestScrubAndVerify(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	old := filepath.Join(root, "tmp", "put-crashed")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(old, []byte("half"), 0o644)
	os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	l, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a crashed upload's temp file is left in tmp/: %v", err)
	}
	good, _, _ := l.Put(ctx, bytes.NewReader([]byte("good blob")))
	bad, _, _ := l.Put(ctx, bytes.NewReader([]byte("soon bad")))
	if err := os.WriteFile(l.path(bad), []byte("soon bAd"), 0o644); err != nil {
		t.Fatal(err)
	}
	var found []string
	n, err := Scrub(ctx, l, func(sha string, err error) {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", sha, err)
		}
		found = append(found, sha)
	})
	if err != nil || n != 2 || len(found) != 1 || found[0] != bad {
		t.Fatalf("scrub: %d checked, corrupt %v, %v", n, found, err)
	}
	if _, err := l.Stat(ctx, bad); !errors.Is(err, ErrNotFound) {
		t.Errorf("the corrupt blob is still served: %v", err)
	}
	if _, err := l.Stat(ctx, good); err != nil {
		t.Errorf("the good blob: %v", err)
	}
	if _, err := io.ReadAll(VerifyingReader(bytes.NewReader([]byte("soon bAd")), bad)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("verifying reader: %v, want ErrCorrupt", err)
	}
	if b, err := io.ReadAll(VerifyingReader(bytes.NewReader([]byte("good blob")), good)); err != nil || string(b) != "good blob" {
		t.Errorf("verifying reader on good bytes: %q %v", b, err)
	}
}
