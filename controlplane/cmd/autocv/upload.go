package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

// Zips up to the threshold go in one multipart request; bigger ones go
// through the resumable upload API in chunks, so a broken link costs one
// chunk, not the whole file. AUTOCV_CHUNK_THRESHOLD and AUTOCV_CHUNK_SIZE
// (bytes) change both; they exist for tests and odd links and are not in
// the help.
const (
	defaultChunkThreshold = 64 << 20
	defaultChunkSize      = 8 << 20
	maxChunkFailures      = 5
	chunkTimeout          = 5 * time.Minute
)

func (a *app) uploadSettings() (threshold, chunk int64, err error) {
	threshold, chunk = defaultChunkThreshold, defaultChunkSize
	for _, s := range []struct {
		env string
		v   *int64
	}{{"AUTOCV_CHUNK_THRESHOLD", &threshold}, {"AUTOCV_CHUNK_SIZE", &chunk}} {
		v := a.getenv(s.env)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, 0, &usageError{msg: fmt.Sprintf("%s=%q: want a number of bytes ≥ 1", s.env, v)}
		}
		*s.v = n
	}
	return threshold, chunk, nil
}

// openZip opens a zip file and checks that it is one.
func openZip(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("zip file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err == nil && fi.Size() == 0 {
		err = fmt.Errorf("%s is empty", path)
	}
	if err == nil {
		magic := make([]byte, 4)
		if _, rerr := io.ReadFull(f, magic); rerr != nil || magic[0] != 'P' || magic[1] != 'K' {
			err = fmt.Errorf("%s is not a zip file (it does not start with \"PK\")", path)
		}
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// sendZip sends a dataset zip with send (creating a dataset or appending
// to one); zips over the threshold are uploaded resumably first and sent
// as their upload id.
func (a *app) sendZip(zipPath string, send func(c *client.Client, zip *client.File, uploadID string) (*api.Dataset, error)) (*api.Dataset, error) {
	threshold, chunk, err := a.uploadSettings()
	if err != nil {
		return nil, err
	}
	f, size, err := openZip(zipPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := a.api()
	if err != nil {
		return nil, err
	}
	name := filepath.Base(zipPath)
	if size > threshold {
		id, err := a.resumableUpload(c, f, size, chunk, name)
		if err != nil {
			return nil, err
		}
		return send(c, nil, id)
	}
	prog := a.newProgress("uploading "+name, size)
	defer prog.done()
	return send(c, &client.File{Name: name, Body: &countingReader{r: f, p: prog}, Size: size}, "")
}

// resumableUpload sends a file through POST /uploads and PATCH
// /uploads/{id}. After a failed chunk it asks the server how much arrived
// (GET /uploads/{id}) and goes on from there.
func (a *app) resumableUpload(c *client.Client, f *os.File, size, chunk int64, name string) (string, error) {
	up, err := c.CreateUpload(a.ctx, size)
	if err != nil {
		return "", fmt.Errorf("starting the upload of %s: %w", name, err)
	}
	if up.ID == "" {
		return "", fmt.Errorf("starting the upload of %s: the server gave no upload id", name)
	}
	prog := a.newProgress("uploading "+name, size)
	defer prog.done()
	off, failures := up.Offset, 0
	for off < size {
		n := min(chunk, size-off)
		next, err := a.putChunk(c, up.ID, f, off, n, prog)
		if err == nil && next <= off {
			err = fmt.Errorf("the server did not take the chunk at byte %d", off)
		}
		if err == nil {
			off, failures = next, 0
			prog.update(off)
			continue
		}
		if a.ctx.Err() != nil {
			return "", a.ctx.Err()
		}
		if !retryable(err) {
			return "", fmt.Errorf("uploading %s: %w", name, err)
		}
		failures++
		if failures > maxChunkFailures {
			return "", fmt.Errorf("uploading %s: gave up at byte %d of %d after %d failed tries: %w", name, off, size, failures, err)
		}
		why := err.Error()
		var ce *client.ConnError
		if errors.As(err, &ce) {
			why = "connection lost: " + ce.Err.Error()
		}
		prog.note(fmt.Sprintf("chunk at byte %d failed (%s); resuming", off, why))
		if err := a.sleep(min(time.Duration(1<<failures)*250*time.Millisecond, 10*time.Second)); err != nil {
			return "", err
		}
		// Part of the chunk may have arrived; the server says how much.
		if st, err := c.GetUpload(a.ctx, up.ID); err == nil {
			off = st.Offset
		}
	}
	return up.ID, nil
}

// putChunk sends bytes [off, off+n) of f and returns the server's new
// offset.
func (a *app) putChunk(c *client.Client, id string, f *os.File, off, n int64, prog *progress) (int64, error) {
	ctx, cancel := context.WithTimeout(a.ctx, chunkTimeout)
	defer cancel()
	st, err := c.AppendUpload(ctx, id, off, &countingReader{r: io.NewSectionReader(f, off, n), p: prog, base: off}, n)
	if err != nil {
		return 0, err
	}
	return st.Offset, nil
}

// retryable tells a passing failure (the link, the server restarting, an
// offset the server disagrees with) from one a retry cannot fix.
func retryable(err error) bool {
	var ae *client.Error
	if !errors.As(err, &ae) {
		var ue *usageError
		return !errors.As(err, &ue)
	}
	return ae.Status >= 500 || ae.Status == http.StatusConflict || ae.Status == http.StatusRequestTimeout ||
		ae.Status == http.StatusTooManyRequests || ae.Body.Code == api.CodeUploadFailed
}

// progress draws one line on stderr: redrawn in place on a terminal, a
// line per tenth elsewhere (logs of scripts).
type progress struct {
	w      io.Writer
	tty    bool
	what   string
	total  int64
	last   time.Time
	step   int64
	ended  bool
	drawn  bool
	lastAt int64
}

func (a *app) newProgress(what string, total int64) *progress {
	return &progress{w: a.stderr, tty: isTerminal(a.stderr), what: what, total: total, step: -1}
}

func (p *progress) line(done int64) string {
	pct := 100 * float64(done) / float64(max(p.total, 1))
	return fmt.Sprintf("%s: %3.0f%% (%s of %s)", p.what, pct, fmtBytes(done), fmtBytes(p.total))
}

func (p *progress) update(done int64) {
	if p.ended {
		return
	}
	p.lastAt = done
	if p.tty {
		if time.Since(p.last) < 100*time.Millisecond && done < p.total {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r%s\033[K", p.line(done))
		p.drawn = true
		return
	}
	if s := done * 10 / max(p.total, 1); s > p.step {
		p.step = s
		fmt.Fprintln(p.w, p.line(done))
	}
}

// note prints a message without losing the progress line.
func (p *progress) note(msg string) {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, p.what+": "+msg)
	p.last = time.Time{}
	if p.tty {
		p.update(p.lastAt)
	}
}

func (p *progress) done() {
	if p.ended {
		return
	}
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
	p.ended = true
}

// countingReader reports how far a body has been read.
type countingReader struct {
	r    io.Reader
	p    *progress
	base int64
	n    int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.update(c.base + c.n)
	return n, err
}
