package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPartialResumeAndCommit(t *testing.T) {
	s, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("autocv"), 1000)
	sum := sumOf(data)

	p, err := s.Partial(sum, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Partial(sum, int64(len(data))); err == nil {
		t.Fatal("a second Partial for the same sum was allowed")
	}
	if err := p.SetChunkSize(1024); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(data[:2048]); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted agent finds the download and its chunk size.
	p, err = s.Partial(sum, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset() != 2048 || p.ChunkSize() != 1024 {
		t.Fatalf("resumed at %d with chunk size %d, want 2048 and 1024", p.Offset(), p.ChunkSize())
	}
	if err := p.Write(data[2048:]); err != nil {
		t.Fatal(err)
	}
	if err := p.Write([]byte("x")); !errors.Is(err, ErrMismatch) {
		t.Errorf("write past the size: %v, want ErrMismatch", err)
	}
	path, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) || path != s.Path(sum) || !s.Has(sum) {
		t.Fatalf("committed %s: wrong content or place", path)
	}
	if left, _ := filepath.Glob(filepath.Join(s.dir, partialDir, "*")); len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
}

func TestCommitMismatch(t *testing.T) {
	s, _ := Open(t.TempDir(), 0)
	data := []byte("the real package")
	for _, tc := range []struct {
		name  string
		write []byte
	}{
		{"short", data[:5]},
		{"other bytes", []byte("the fake package")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Partial(sumOf(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Write(tc.write); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(); !errors.Is(err, ErrMismatch) {
				t.Fatalf("Commit = %v, want ErrMismatch", err)
			}
			if s.Has(sumOf(data)) {
				t.Fatal("a mismatching download was stored")
			}
			p, _ = s.Partial(sumOf(data), int64(len(data)))
			if p.Offset() != 0 {
				t.Errorf("the mismatching download was kept (%d bytes)", p.Offset())
			}
			p.Discard()
		})
	}
}

func TestLimitIsDiskFull(t *testing.T) {
	s, _ := Open(t.TempDir(), 1000)
	old := bytes.Repeat([]byte{1}, 600)
	p, _ := s.Partial(sumOf(old), 600)
	if err := p.Write(old); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Partial(sumOf([]byte("new")), 500)
	defer p.Discard()
	if err := p.Write(make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	err := p.Write(make([]byte, 200))
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("write over the limit: %v, want ErrDiskFull", err)
	}
	if p.Offset() != 300 {
		t.Errorf("offset after a refused write = %d, want 300", p.Offset())
	}
}

func TestKeep(t *testing.T) {
	s, _ := Open(t.TempDir(), 0)
	var sums []string
	for _, c := range []string{"a", "b", "c"} {
		b := []byte(c)
		p, _ := s.Partial(sumOf(b), 1)
		_ = p.Write(b)
		if _, err := p.Commit(); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sumOf(b))
	}
	stale, _ := s.Partial(sumOf([]byte("stale")), 5)
	_ = stale.Write([]byte("st"))
	_ = stale.Close()
	busy, _ := s.Partial(sumOf([]byte("busy")), 4)
	defer busy.Discard()

	removed, err := s.Keep(sums[1], sums[2])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{sums[0], sumOf([]byte("stale"))}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if s.Has(sums[0]) || !s.Has(sums[1]) || !s.Has(sums[2]) {
		t.Error("Keep kept the wrong packages")
	}
	if _, err := os.Stat(busy.path); err != nil {
		t.Errorf("Keep removed a download in progress: %v", err)
	}
}
