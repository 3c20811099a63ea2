package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/internal/atomicfile"
	"github.com/autocv/autocv/protocol/api"
)

// Blobs are verified against their sha256 whenever they leave the store:
// a disk that changed a package or an image must not hand wrong bytes to
// a browser, a device or a plugin with a 200.

// verified remembers local files hashed lately, by path, size and
// modification time, so a package downloaded often is hashed once an
// hour, not once a download; bit rot that keeps size and time is found
// within the hour (and by autocv-server scrub). Bounded: when full it
// starts afresh.
var verified = struct {
	sync.Mutex
	at map[string]time.Time
}{at: map[string]time.Time{}}

const verifiedFor, verifiedMax = time.Hour, 10_000

func verifyFile(f *os.File, sha string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	key := sha + "|" + f.Name() + "|" + strconv.FormatInt(fi.Size(), 10) + "|" + fi.ModTime().String()
	verified.Lock()
	at, ok := verified.at[key]
	verified.Unlock()
	if ok && time.Since(at) < verifiedFor {
		return nil
	}
	if err := blob.Verify(f, sha); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	verified.Lock()
	if len(verified.at) >= verifiedMax {
		clear(verified.at)
	}
	verified.at[key] = time.Now()
	verified.Unlock()
	return nil
}

// corrupt logs, counts and (in a local store) quarantines a blob found
// corrupt (blob.ErrCorrupt: its bytes do not hash to its name).
func (s *Server) corrupt(where, sha string, err error) {
	corruptBlobs.WithLabelValues(where).Inc()
	s.log.Error("corrupt blob", zap.String("sha256", sha), zap.String("where", where), zap.Error(err))
	if l, ok := s.blobs.(*blob.Local); ok && where == "store" {
		if qerr := l.Quarantine(sha); qerr != nil {
			s.log.Error("quarantining a corrupt blob", zap.String("sha256", sha), zap.Error(qerr))
		}
	}
}

// sendBlob streams a blob, verified: a local file is hashed whole first
// (so Range requests work); any other is hashed as it streams with its
// last bytes held back, and a mismatch cuts the connection, so the client
// never takes wrong bytes for the blob.
func (s *Server) sendBlob(c *gin.Context, sha, ctype, filename string) {
	rc, n, err := s.blobs.Get(c.Request.Context(), sha)
	if err != nil {
		s.internal(c, err)
		return
	}
	defer rc.Close()
	f, local := rc.(*os.File)
	if local {
		if err := verifyFile(f, sha); errors.Is(err, blob.ErrCorrupt) {
			s.corrupt("store", sha, err)
			failf(c, api.CodeInternal, "the stored copy of %s is corrupt; it was taken out of service and reported (request id %s)", sha, c.GetString(requestIDKey))
			return
		} else if err != nil {
			s.internal(c, err) // a read error is not corruption: the blob stays
			return
		}
	}
	c.Header("ETag", `"`+sha+`"`)
	if filename != "" {
		c.Header("Content-Disposition", `attachment; filename="`+filename+`"`)
	}
	c.Header("Content-Type", ctype)
	if local {
		http.ServeContent(c.Writer, c.Request, "", zeroTime, f) // verified whole: Range works
		return
	}
	c.Header("Content-Length", strconv.FormatInt(n, 10))
	c.Status(http.StatusOK)
	w := &holdback{w: c.Writer, keep: 64 << 10}
	if _, err := io.Copy(w, blob.VerifyingReader(rc, sha)); err != nil {
		if errors.Is(err, blob.ErrCorrupt) {
			s.corrupt("store", sha, err)
		}
		panic(http.ErrAbortHandler) // cut the transfer short: never the whole length of wrong bytes
	}
	if err := w.flush(); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// holdback writes all but the last keep bytes until flush.
type holdback struct {
	w    io.Writer
	keep int
	buf  []byte
}

func (h *holdback) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	if over := len(h.buf) - h.keep; over > 0 {
		if _, err := h.w.Write(h.buf[:over]); err != nil {
			return 0, err
		}
		h.buf = append(h.buf[:0], h.buf[over:]...)
	}
	return len(p), nil
}

func (h *holdback) flush() error {
	_, err := h.w.Write(h.buf)
	return err
}

// packageFile returns a local, verified path of a package blob, copying
// it out of the blob store into the cache on first use (plugins read
// files). A cached copy that no longer hashes right is evicted and copied
// again; a copy that would not hash right is never written.
func (s *Server) packageFile(ctx context.Context, sha string) (string, error) {
	path := filepath.Join(s.opt.DataDir, "cache", "packages", sha+".tar.gz")
	if f, err := os.Open(path); err == nil {
		err = verifyFile(f, sha)
		f.Close()
		if err == nil {
			return path, nil
		}
		if errors.Is(err, blob.ErrCorrupt) {
			s.corrupt("cache", sha, err)
		}
		os.Remove(path) // a cache copy: made again from the store
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	rc, _, err := s.blobs.Get(ctx, sha)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	err = atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, blob.VerifyingReader(rc, sha))
		return err
	})
	if errors.Is(err, blob.ErrCorrupt) {
		s.corrupt("store", sha, err)
	}
	return path, err
}
