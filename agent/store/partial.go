package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Partial is a download in progress. It is not safe for concurrent use:
// one fetch owns it until Commit, Discard or Close.
type Partial struct {
	s     *Store
	sum   string
	size  int64 // expected size
	f     *os.File
	path  string
	off   int64 // bytes written, the resume point
	chunk int   // chunk size of a chunked transfer; 0 = unknown or none
	base  int64 // bytes of the rest of the store when opened
}

// Offset is how many bytes are stored so far.
func (p *Partial) Offset() int64 { return p.off }

// Size is the package's expected size.
func (p *Partial) Size() int64 { return p.size }

// ChunkSize is the chunk size recorded for a chunked transfer, 0 if none.
func (p *Partial) ChunkSize() int { return p.chunk }

// SetChunkSize records the chunk size of a chunked transfer in the file's
// name, so a restarted agent can resume by chunk index.
func (p *Partial) SetChunkSize(n int) error {
	if n == p.chunk {
		return nil
	}
	path := filepath.Join(filepath.Dir(p.path), p.sum+"."+strconv.Itoa(n)+partialExt)
	// Windows cannot rename an open file: close, rename, reopen.
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("package store: %w", err)
	}
	renameErr := os.Rename(p.path, path)
	if renameErr != nil {
		path = p.path // reopen the old name
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("package store: %w", err)
	}
	p.f, p.path = f, path
	if renameErr != nil {
		return fmt.Errorf("package store: %w", renameErr)
	}
	p.chunk = n
	syncDir(filepath.Dir(path))
	return nil
}

// Truncate drops everything from off on; the next Write goes there.
func (p *Partial) Truncate(off int64) error {
	if off > p.off {
		return fmt.Errorf("package store: truncate to %d beyond the %d bytes stored", off, p.off)
	}
	if err := p.f.Truncate(off); err != nil {
		return fmt.Errorf("package store: %w", err)
	}
	p.off = off
	return nil
}

// Write appends b at Offset. It fails with ErrDiskFull when the disk is
// full or the store's limit would be passed, and refuses to grow the file
// beyond the expected size.
func (p *Partial) Write(b []byte) error {
	if p.off+int64(len(b)) > p.size {
		return fmt.Errorf("%w: more than the expected %d bytes arrived", ErrMismatch, p.size)
	}
	if lim := p.s.limit; lim > 0 && p.base+p.off+int64(len(b)) > lim {
		return fmt.Errorf("%w: the package needs %d bytes and the store may use %d bytes in all (%d used by other packages)",
			ErrDiskFull, p.size, lim, p.base)
	}
	n, err := p.f.WriteAt(b, p.off)
	if err != nil {
		_ = p.f.Truncate(p.off) // keep the resume point whole
		if isDiskFull(err) {
			return fmt.Errorf("%w: %v", ErrDiskFull, err)
		}
		return fmt.Errorf("package store: %w", err)
	}
	p.off += int64(n)
	return nil
}

// Sync makes what was written durable: after a crash the download resumes
// from at least here.
func (p *Partial) Sync() error {
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("package store: %w", err)
	}
	return nil
}

// Commit checks the size and sha256 of the whole download and moves it to
// Store.Path. On a mismatch the download is deleted and the error wraps
// ErrMismatch. The Partial is closed either way.
func (p *Partial) Commit() (string, error) {
	defer p.s.release(p.sum)
	if p.off != p.size {
		p.f.Close()
		os.Remove(p.path)
		return "", fmt.Errorf("%w: got %d bytes, want %d", ErrMismatch, p.off, p.size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(p.f, 0, p.off)); err != nil {
		p.f.Close()
		return "", fmt.Errorf("package store: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.sum {
		p.f.Close()
		os.Remove(p.path)
		return "", fmt.Errorf("%w: sha256 is %s, want %s", ErrMismatch, got, p.sum)
	}
	if err := p.f.Sync(); err != nil {
		p.f.Close()
		return "", fmt.Errorf("package store: %w", err)
	}
	if err := p.f.Close(); err != nil {
		return "", fmt.Errorf("package store: %w", err)
	}
	dst := p.s.Path(p.sum)
	if err := os.Rename(p.path, dst); err != nil {
		return "", fmt.Errorf("package store: %w", err)
	}
	syncDir(p.s.dir)
	return dst, nil
}

// Discard deletes the download.
func (p *Partial) Discard() {
	defer p.s.release(p.sum)
	p.f.Close()
	os.Remove(p.path)
}

// Close keeps the download on disk to resume later.
func (p *Partial) Close() error {
	defer p.s.release(p.sum)
	return p.f.Close()
}
