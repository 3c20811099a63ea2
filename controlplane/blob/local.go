package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/autocv/autocv/internal/atomicfile"
)

// Local stores blobs in a folder: <root>/blobs/<sha[:2]>/<sha>. Each upload is
// written to <root>/tmp, fsynced, then renamed into place, so a reader never
// sees a partial blob and concurrent writers of the same content are safe (the
// last rename wins, and both hold identical bytes).
type Local struct {
	root string
}

var _ Store = (*Local)(nil)

// NewLocal opens (creating if needed) a blob folder at root.
func NewLocal(root string) (*Local, error) {
	for _, d := range []string{"blobs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("blob store folder %s: %w", root, err)
		}
	}
	l := &Local{root: root}
	l.sweepTmp(time.Hour)
	return l, nil
}

func (l *Local) path(sha string) string {
	return filepath.Join(l.root, filepath.FromSlash(contentKey(sha)))
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	return l.put(ctx, "", r)
}

// PutKnown implements Store.
func (l *Local) PutKnown(ctx context.Context, sha string, r io.Reader) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	if _, err := os.Stat(l.path(sha)); err == nil {
		return nil
	}
	_, _, err := l.put(ctx, sha, r)
	return err
}

// put writes r to a temp file; want, if not empty, is the sha r must hash to.
func (l *Local) put(ctx context.Context, want string, r io.Reader) (sha string, size int64, err error) {
	tmp, err := os.CreateTemp(filepath.Join(l.root, "tmp"), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	hr := newHashingReader(ctx, r)
	if _, err = io.Copy(tmp, hr); err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	sha, size = hr.sum(), hr.n
	if want != "" && sha != want {
		return "", 0, fmt.Errorf("%w: claimed %s, content is %s", ErrHashMismatch, want, sha)
	}
	dst := l.path(sha)
	if err = os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, fmt.Errorf("blob put: %w", err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		// On Windows a rename over a blob that is open for reading fails; the
		// content is identical, so an existing blob of the same size is success.
		if st, serr := os.Stat(dst); serr == nil && st.Size() == size {
			os.Remove(tmp.Name())
			return sha, size, nil
		}
		return "", 0, fmt.Errorf("blob put %s: %w", sha, err)
	}
	atomicfile.SyncDir(filepath.Dir(dst))
	return sha, size, nil
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	if err := checkSHA(sha); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(l.path(sha))
	if err != nil {
		return nil, 0, l.mapErr(sha, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", sha, err)
	}
	return f, st.Size(), nil
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, sha string) (int64, error) {
	if err := checkSHA(sha); err != nil {
		return 0, err
	}
	st, err := os.Stat(l.path(sha))
	if err != nil {
		return 0, l.mapErr(sha, err)
	}
	return st.Size(), nil
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, sha string) error {
	if err := checkSHA(sha); err != nil {
		return err
	}
	if err := os.Remove(l.path(sha)); err != nil {
		return l.mapErr(sha, err)
	}
	return nil
}

func (l *Local) mapErr(sha string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, sha)
	}
	return fmt.Errorf("blob %s: %w", sha, err)
}

// List implements Store.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield("", err)
			return
		}
		dirs, err := l.readNames(filepath.Join(l.root, "blobs"))
		if err != nil {
			yield("", err)
			return
		}
		for _, d := range dirs {
			if len(d) != 2 || !isLowerHex(d) || !hasPrefixEither(d, prefix) {
				continue
			}
			names, err := l.readNames(filepath.Join(l.root, "blobs", d))
			if err != nil {
				if !yield("", err) {
					return
				}
				continue
			}
			for _, n := range names {
				if !ValidSHA(n) || n[:2] != d || !strings.HasPrefix(n, prefix) {
					continue
				}
				if err := ctx.Err(); err != nil {
					yield("", err)
					return
				}
				if !yield(n, nil) {
					return
				}
			}
		}
	}
}

// hasPrefixEither reports whether the two-digit fan-out dir d can hold shas
// starting with prefix.
func hasPrefixEither(d, prefix string) bool {
	return strings.HasPrefix(d, prefix) || strings.HasPrefix(prefix, d)
}

func (l *Local) readNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blob list: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}
