// Package store is the agent's content-addressed store of model packages.
//
// A complete package lives at <dir>/<sha256>.tar.gz, and only ever gets
// there by an atomic rename after its size and sha256 were checked, so a
// file under that name is always whole. A download in progress is a
// Partial at <dir>/partial/<sha256>.<chunk size>.part: bytes are appended
// in order and synced, so after a disconnect, a crash or a power cut the
// file's length is the resume point (rounded down to whole chunks for a
// chunked transfer, whose chunk size the name records; 0 = not chunked).
//
// The store may be given a size limit; a write that would take it over
// the limit fails with ErrDiskFull, exactly as a full disk does.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/autocv/autocv/agent/state"
)

// Sentinel errors.
var (
	// ErrDiskFull: no room for the package (the disk is full, or the
	// store's size limit is reached).
	ErrDiskFull = errors.New("not enough disk space for the model package")
	// ErrMismatch: a finished download's size or sha256 differs from what
	// the desired state said; the download was deleted.
	ErrMismatch = errors.New("downloaded package does not match the desired sha256 and size")
)

const (
	packageExt = ".tar.gz"
	partialDir = "partial"
	partialExt = ".part"
)

// Store is a folder of packages named by their sha256.
type Store struct {
	dir   string
	limit int64      // bytes; 0 = none
	mu    sync.Mutex // one Partial per sha256 at a time
	open  map[string]bool
}

// Open returns the store in dir, creating it. limit caps the bytes of all
// its files together (0: no cap other than the disk).
func Open(dir string, limit int64) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, partialDir), 0o700); err != nil {
		return nil, fmt.Errorf("package store: %w", err)
	}
	return &Store{dir: dir, limit: limit, open: map[string]bool{}}, nil
}

// Path is where the package with the given sha256 is (or would be) kept.
func (s *Store) Path(sum string) string { return filepath.Join(s.dir, sum+packageExt) }

// Has reports whether the complete package with this sha256 is stored.
func (s *Store) Has(sum string) bool {
	fi, err := os.Stat(s.Path(sum))
	return err == nil && fi.Mode().IsRegular()
}

// Remove deletes the complete package with this sha256, if stored.
func (s *Store) Remove(sum string) error {
	if err := os.Remove(s.Path(sum)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Keep deletes every package and partial download except those whose
// sha256 is in keep (the current and previous packages, and the one being
// downloaded). It returns the sums it deleted.
func (s *Store) Keep(keep ...string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wanted := map[string]bool{}
	for _, k := range keep {
		wanted[k] = true
	}
	var removed []string
	var firstErr error
	visit := func(dir, ext string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			firstErr = errors.Join(firstErr, err)
			return
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ext) {
				continue
			}
			sum, _, _ := strings.Cut(name, ".")
			if wanted[sum] || s.open[sum] {
				continue
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				firstErr = errors.Join(firstErr, err)
				continue
			}
			removed = append(removed, sum)
		}
	}
	visit(s.dir, packageExt)
	visit(filepath.Join(s.dir, partialDir), partialExt)
	return removed, firstErr
}

// used is the size of every file in the store but skip.
func (s *Store) used(skip string) (int64, error) {
	var n int64
	err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == skip {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		n += fi.Size()
		return nil
	})
	return n, err
}

// Partial opens the download of the package with this sha256 and size,
// resuming the one on disk if there is one. Only one Partial per sha256
// may be open at a time.
func (s *Store) Partial(sum string, size int64) (*Partial, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[sum] {
		return nil, fmt.Errorf("package store: %s is already being downloaded", sum)
	}
	dir := filepath.Join(s.dir, partialDir)
	matches, _ := filepath.Glob(filepath.Join(dir, sum+".*"+partialExt))
	path, chunk := filepath.Join(dir, sum+".0"+partialExt), 0
	for i, m := range matches {
		c, ok := chunkSizeOf(filepath.Base(m), sum)
		if i > 0 || !ok {
			os.Remove(m) // stray or duplicate: start that one afresh
			continue
		}
		path, chunk = m, c
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("package store: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("package store: %w", err)
	}
	p := &Partial{s: s, sum: sum, size: size, f: f, path: path, off: fi.Size(), chunk: chunk}
	if p.off > size {
		if err := p.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	if p.base, err = s.used(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("package store: %w", err)
	}
	s.open[sum] = true
	return p, nil
}

// chunkSizeOf parses "<sum>.<chunk>.part".
func chunkSizeOf(name, sum string) (int, bool) {
	mid, ok := strings.CutPrefix(strings.TrimSuffix(name, partialExt), sum+".")
	if !ok {
		return 0, false
	}
	n := 0
	for _, c := range mid {
		if c < '0' || c > '9' || n > 1<<24 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, mid != ""
}

func (s *Store) release(sum string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, sum)
}

// syncDir is state.SyncDir, for renames into the store.
var syncDir = state.SyncDir
