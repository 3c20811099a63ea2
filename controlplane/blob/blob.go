// Package blob stores immutable, content-addressed byte blobs (images, features,
// model packages) under the hex SHA-256 of their content.
//
// Two implementations share one contract and one conformance test suite:
// Local (a folder on disk, the embedded default) and S3 (any S3-compatible store
// through minio-go, for several control-plane replicas).
//
// Layout, identical in both: blobs/<sha[:2]>/<sha> for content and tmp/<random>
// for uploads in progress. A crash can leave files under tmp/; they are never
// listed and may be removed by an operator or a sweeper at any time when no
// upload is running.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
)

// Sentinel errors. Callers test them with errors.Is; implementations wrap them
// with the sha concerned.
var (
	// ErrNotFound means no blob with that sha is stored.
	ErrNotFound = errors.New("blob not found")
	// ErrHashMismatch means the bytes given to PutKnown do not hash to the sha
	// the caller claimed; nothing was stored.
	ErrHashMismatch = errors.New("blob content does not match its sha256")
	// ErrInvalidSHA means a sha string is not 64 lowercase hex digits (or a
	// List prefix is not up to 64 of them). It guards against path traversal.
	ErrInvalidSHA = errors.New("invalid blob sha256: want 64 lowercase hex digits")
)

// Store is a content-addressed blob store. Blobs are immutable: putting the
// same content twice is a no-op, and concurrent puts of the same content are safe.
type Store interface {
	// Put streams r into the store while hashing it and returns the hex
	// sha256 and size of what was stored.
	Put(ctx context.Context, r io.Reader) (sha string, size int64, err error)
	// PutKnown stores r under sha, verifying that the content hashes to sha.
	// On mismatch it returns ErrHashMismatch and stores nothing. If sha is
	// already stored, r may be left unread.
	PutKnown(ctx context.Context, sha string, r io.Reader) error
	// Get opens the blob for reading and reports its size. The caller closes it.
	Get(ctx context.Context, sha string) (io.ReadCloser, int64, error)
	// Stat reports the size of a stored blob.
	Stat(ctx context.Context, sha string) (int64, error)
	// Delete removes a blob. Deleting a missing blob returns ErrNotFound.
	Delete(ctx context.Context, sha string) error
	// List yields the shas of stored blobs that start with prefix (hex, may be
	// empty), in ascending order. Stop early by breaking out of the loop.
	List(ctx context.Context, prefix string) iter.Seq2[string, error]
}

// ValidSHA reports whether s is 64 lowercase hex digits.
func ValidSHA(s string) bool {
	return len(s) == sha256.Size*2 && isLowerHex(s)
}

func checkSHA(s string) error {
	if !ValidSHA(s) {
		return fmt.Errorf("%w: %q", ErrInvalidSHA, truncate(s))
	}
	return nil
}

func checkPrefix(p string) error {
	if len(p) > sha256.Size*2 || !isLowerHex(p) {
		return fmt.Errorf("%w: list prefix %q", ErrInvalidSHA, truncate(p))
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// contentKey is the slash-separated path of a blob below the store root.
func contentKey(sha string) string { return "blobs/" + sha[:2] + "/" + sha }

// hashingReader hashes and counts what passes through it and stops early when
// ctx is cancelled.
type hashingReader struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
	n   int64
}

func newHashingReader(ctx context.Context, r io.Reader) *hashingReader {
	return &hashingReader{ctx: ctx, r: r, h: sha256.New()}
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	if err := hr.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}

func (hr *hashingReader) sum() string { return hex.EncodeToString(hr.h.Sum(nil)) }
