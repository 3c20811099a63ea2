package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Defaults of the body limits in Config.
const (
	// DefaultMaxReading is Config.MaxReading's default. A body being read
	// costs a goroutine and what has arrived of it, not a worker.
	DefaultMaxReading = 128
	// DefaultMinBodyRate is Config.MinBodyRate's default, 8 KB/s (64
	// kbit/s): far below any link that sends a photo within the
	// request_timeout, far above a client that holds a connection open by
	// sending a byte now and then.
	DefaultMinBodyRate = 8 << 10
	// DefaultBodyGrace is Config.BodyGrace's default.
	DefaultBodyGrace = 5 * time.Second
)

// errTooSlow is the error reading a body that arrives slower than the
// minimum rate (see bodyReader).
var errTooSlow = errors.New("the request body arrives too slowly")

// bodyReader is a request body that must arrive at an average of rate
// bytes per second once grace has passed since the request arrived, and
// within the request's deadline. Having received n bytes, it waits for
// more until arrived + grace + n/rate at most (as Apache's mod_reqtimeout
// MinRate does), by setting the connection's read deadline before each
// read: a client sending a byte a second is cut off after about grace,
// one sending fast is limited by the request_timeout only. Reads past the
// rate's deadline fail with errTooSlow, reads past the request's with
// os.ErrDeadlineExceeded. Only the handler's goroutine reads it.
type bodyReader struct {
	body     io.ReadCloser
	conn     *http.ResponseController
	arrived  time.Time
	deadline time.Time // the request's
	grace    time.Duration
	rate     int64 // bytes per second

	n   int64 // bytes read so far
	err error // sticky
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	due := b.arrived.Add(b.grace + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second)))
	paced := due.Before(b.deadline)
	if !paced {
		// A little after the request's context, so that the context's
		// deadline decides the answer.
		due = b.deadline.Add(time.Second)
	}
	_ = b.conn.SetReadDeadline(due)
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		// All of it: the server now watches the connection for the
		// client going away, which must not end the request before its
		// deadline does.
		b.err = err
		_ = b.conn.SetReadDeadline(b.deadline.Add(time.Second))
	case paced && errors.Is(err, os.ErrDeadlineExceeded):
		b.err = fmt.Errorf("%w: %d bytes in %s", errTooSlow, b.n, time.Since(b.arrived).Round(time.Millisecond))
	default:
		b.err = err
	}
	return n, b.err
}

func (b *bodyReader) Close() error { return b.body.Close() }
