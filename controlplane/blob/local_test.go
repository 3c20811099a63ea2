package blob

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestLocal(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		s, err := NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestLocalLayout pins the on-disk layout and checks no temp file is left.
func TestLocalLayout(t *testing.T) {
	root := t.TempDir()
	s, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	sha, _, err := s.Put(context.Background(), bytes.NewReader([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "blobs", sha[:2], sha)); err != nil {
		t.Fatal(err)
	}
	_ = s.PutKnown(context.Background(), sha[:63]+"0", bytes.NewReader([]byte("y")))
	left, _ := os.ReadDir(filepath.Join(root, "tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left behind: %v", left)
	}
}
