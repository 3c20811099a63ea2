package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/store"
)

// DefaultAttempts is how many times HTTP tries a download by default.
const DefaultAttempts = 4

// syncEvery is how many bytes HTTP writes between syncs, so a resumed
// download restarts from a recent point.
const syncEvery = 4 << 20

// errPermanent marks HTTP answers that trying again will not change.
var errPermanent = errors.New("permanent")

// HTTP downloads a file with HTTP GET, resuming with a Range request from
// the bytes already stored after a cut connection (and across agent
// restarts). A server that ignores Range (200) is read from the start.
type HTTP struct {
	Client   *http.Client // nil = http.DefaultClient; give one with timeouts
	Attempts int          // tries before giving up; default DefaultAttempts
	Logger   *zap.Logger
}

// Fetch downloads url into p until p holds p.Size() bytes. Like MQTT.Fetch
// it leaves the whole-file check to Partial.Commit.
func (h *HTTP) Fetch(ctx context.Context, p *store.Partial, url string, progress Progress) error {
	attempts := h.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	log := h.Logger
	if log == nil {
		log = zap.NewNop()
	}
	for attempt := 1; ; attempt++ {
		err := h.once(ctx, p, url, progress)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errPermanent) || errors.Is(err, store.ErrDiskFull) || errors.Is(err, store.ErrMismatch) || attempt >= attempts {
			return err
		}
		delay := time.Second << (attempt - 1)
		log.Warn("HTTP download interrupted; resuming", zap.String("url", url), zap.Int64("at", p.Offset()),
			zap.Int("attempt", attempt), zap.Duration("delay", delay), zap.Error(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// once makes one GET from p's offset and stores what arrives.
func (h *HTTP) once(ctx context.Context, p *store.Partial, url string, progress Progress) error {
	off := p.Offset()
	if off == p.Size() {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			_ = p.Truncate(0)
			return fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q; starting over", url, off, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if err := p.Truncate(0); err != nil {
			return err
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		_ = p.Truncate(0)
		return fmt.Errorf("GET %s: range from %d refused; starting over", url, off)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	default:
		return fmt.Errorf("%w: GET %s: %s", errPermanent, url, resp.Status)
	}
	return copyBody(resp.Body, p, progress)
}

// copyBody appends the body to p, syncing every syncEvery bytes and at the
// end.
func copyBody(body io.Reader, p *store.Partial, progress Progress) error {
	buf := make([]byte, 64<<10)
	unsynced := 0
	for p.Offset() < p.Size() {
		n, rerr := body.Read(buf)
		if n > 0 {
			if err := p.Write(buf[:n]); err != nil {
				return err
			}
			progress.report(p.Offset(), p.Size())
			if unsynced += n; unsynced >= syncEvery {
				if err := p.Sync(); err != nil {
					return err
				}
				unsynced = 0
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = p.Sync()
			return fmt.Errorf("download cut at %d of %d bytes: %w", p.Offset(), p.Size(), rerr)
		}
	}
	if err := p.Sync(); err != nil {
		return err
	}
	if p.Offset() < p.Size() {
		return fmt.Errorf("download ended at %d of %d bytes", p.Offset(), p.Size())
	}
	return nil
}

// rangeStart parses the first byte of "bytes START-END/TOTAL".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return n, err == nil
}
