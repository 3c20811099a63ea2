package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrCorrupt means a stored blob's bytes no longer hash to its name: the
// disk (or whatever is under the store) changed them.
var ErrCorrupt = errors.New("stored blob is corrupt: its content does not hash to its name")

// Verify reads r to the end and checks it hashes to sha.
func Verify(r io.Reader, sha string) error {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("%w: blob %s hashes to %s", ErrCorrupt, sha, got)
	}
	return nil
}

// VerifyingReader passes a blob's bytes through and, at the end, returns
// ErrCorrupt instead of io.EOF when they did not hash to sha.
func VerifyingReader(r io.Reader, sha string) io.Reader {
	return &verifying{r: r, sha: sha, h: sha256.New()}
}

type verifying struct {
	r   io.Reader
	sha string
	h   interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.sha {
			return n, fmt.Errorf("%w: blob %s hashes to %s", ErrCorrupt, v.sha, got)
		}
	}
	return n, err
}

// Quarantine moves a corrupt blob out of the store (into
// <root>/quarantine, for someone to look at), so the next Get says it is
// missing instead of serving it.
func (l *Local) Quarantine(sha string) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	dir := filepath.Join(l.root, "quarantine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, sha+"."+time.Now().UTC().Format("20060102T150405"))
	if err := os.Rename(l.path(sha), dst); err != nil {
		return l.mapErr(sha, err)
	}
	return nil
}

// sweepTmp removes what a crash left in tmp/: uploads older than age
// (younger ones may belong to a replica sharing the folder).
func (l *Local) sweepTmp(age time.Duration) {
	ents, err := os.ReadDir(filepath.Join(l.root, "tmp"))
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			os.Remove(filepath.Join(l.root, "tmp", e.Name()))
		}
	}
}

// Scrub checks every blob of a store against its name and calls bad for
// each corrupt one (after quarantining it, when the store is Local); it
// returns how many blobs it checked.
func Scrub(ctx context.Context, s Store, bad func(sha string, err error)) (int, error) {
	n := 0
	for sha, err := range s.List(ctx, "") {
		if err != nil {
			return n, err
		}
		rc, _, err := s.Get(ctx, sha)
		if err != nil {
			bad(sha, err)
			continue
		}
		err = Verify(rc, sha)
		rc.Close()
		n++
		if errors.Is(err, ErrCorrupt) {
			if l, ok := s.(*Local); ok {
				if qerr := l.Quarantine(sha); qerr != nil {
					err = fmt.Errorf("%w (quarantine: %v)", err, qerr)
				}
			}
		}
		if err != nil {
			bad(sha, err)
		}
	}
	return n, nil
}
