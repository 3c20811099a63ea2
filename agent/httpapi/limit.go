package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// DefaultMaxConcurrent is Config.MaxConcurrent's default: twice the CPUs
// the agent may use, enough to keep the plugin's decoders busy while
// requests are answered.
func DefaultMaxConcurrent() int { return 2 * runtime.GOMAXPROCS(0) }

// limit admits predict and upload requests in two steps, so a client that
// sends its body slowly costs a connection, never a worker:
//
//  1. Reading the body. At most MaxReading bodies are read at once; a
//     request beyond that is answered at once with 429 busy and
//     Retry-After. The body must arrive at MinBodyRate on average after
//     BodyGrace (see bodyReader), else the answer is 504 timeout.
//  2. The handler, with the body read and checked, asks for a turn (see
//     turn): at most MaxConcurrent requests are handled at once (the
//     workers) and at most MaxQueue more wait for one, in arrival order. A
//     request that finds the workers and the queue full is answered at
//     once with 429 busy and Retry-After, so a client backs off instead of
//     the agent running out of memory.
//
// Every request has RequestTimeout from its arrival, the body, the wait in
// the queue and the plugin call included; past it the answer is 504 with
// code timeout. GET endpoints are never limited: /healthz and /metrics
// answer while the agent is saturated.
func (s *Server) limit(c *gin.Context) {
	arrived := time.Now()
	deadline := arrived.Add(s.cfg.RequestTimeout)
	ctx, cancel := context.WithDeadline(c.Request.Context(), deadline)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)

	conn := http.NewResponseController(c.Writer)
	select {
	case s.reading <- struct{}{}:
	default:
		c.Header("Retry-After", strconv.Itoa(max(1, int((s.cfg.BodyGrace+time.Second-1)/time.Second))))
		abort(c, newError(CodeBusy, fmt.Sprintf(
			"the agent is busy: %d requests are sending their bodies; try again after Retry-After seconds "+
				"(a body must arrive at %s/s or faster)", s.cfg.MaxReading, size(s.cfg.MinBodyRate))))
		dropBody(c, conn)
		return
	}
	// The body's bytes count from here until the answer: read, queued or
	// at the plugin, they are in memory.
	held := c.Request.ContentLength
	if held <= 0 || held > s.cfg.MaxUploadBytes {
		held = s.cfg.MaxImageBytes
		if c.Request.URL.Path == "/upload" {
			held = s.cfg.MaxUploadBytes
		}
	}
	held = min(held, s.cfg.MaxBodyBytes)
	if !s.bodies.TryAcquire(held) {
		s.doneReading(&intake{reading: true})
		c.Header("Retry-After", strconv.Itoa(s.retryAfter()))
		abort(c, newError(CodeBusy, fmt.Sprintf("the agent is busy: the requests it holds take %s already; try again after Retry-After seconds",
			size(s.cfg.MaxBodyBytes))))
		dropBody(c, conn)
		return
	}
	defer s.bodies.Release(held)
	in := &intake{reading: true}
	defer s.doneReading(in)
	c.Set(ctxIntake, in)
	body := &bodyReader{
		body: c.Request.Body, conn: conn, arrived: arrived, deadline: deadline,
		grace: s.cfg.BodyGrace, rate: s.cfg.MinBodyRate,
	}
	c.Request.Body = body
	c.Next()
	if errors.Is(body.err, io.EOF) {
		return
	}
	// A refusal that did not need the body (a bad top_k, say): read the
	// rest at the client's pace (the bodyReader still cuts a slow one off)
	// so an ordinary client gets its answer instead of a reset while it
	// is still sending. Busy, too large and too slow are cut short.
	if st := c.Writer.Status(); body.err == nil && st != http.StatusTooManyRequests && st != http.StatusRequestEntityTooLarge &&
		c.Request.ContentLength <= s.cfg.MaxImageBytes {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, s.cfg.MaxImageBytes+1))
		if errors.Is(body.err, io.EOF) {
			return
		}
	}
	dropBody(c, conn)
}

// dropBody makes the server close the connection after the answer
// instead of reading the rest of a body nobody will use: at the pace of
// a slow client that could take minutes.
func dropBody(c *gin.Context, conn *http.ResponseController) {
	if c.Request.ContentLength != 0 {
		_ = conn.SetReadDeadline(time.Now())
	}
}

// intake is what limit knows of one request.
type intake struct {
	reading bool // holds a place in Server.reading
}

// ctxIntake is the gin key of the request's *intake.
const ctxIntake = "autocv.intake"

// doneReading gives back the request's place among the bodies being read.
func (s *Server) doneReading(in *intake) {
	if in.reading {
		in.reading = false
		<-s.reading
	}
}

// turn waits for a worker for a request whose body has been read and
// checked; the handler calls done when the plugin has answered. A request
// that finds the workers and the queue full gets 429 busy (with
// Retry-After set); one still waiting at its deadline gets 504 timeout.
func (s *Server) turn(c *gin.Context) (done func(), e *apiError) {
	in := c.MustGet(ctxIntake).(*intake)
	s.doneReading(in)
	ctx := c.Request.Context()
	select {
	case s.slots <- struct{}{}:
	default:
		select {
		case s.queue <- struct{}{}:
		default:
			c.Header("Retry-After", strconv.Itoa(s.retryAfter()))
			return nil, newError(CodeBusy, fmt.Sprintf(
				"the agent is busy: %d prediction requests are running and %d are waiting; "+
					"try again after Retry-After seconds, or send fewer requests at once (the agent's max_concurrent and max_queue settings)",
				s.cfg.MaxConcurrent, s.cfg.MaxQueue))
		}
		select {
		case s.slots <- struct{}{}:
			<-s.queue
		case <-ctx.Done():
			<-s.queue
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, newError(CodeTimeout, fmt.Sprintf(
					"the agent was busy and this request waited its whole request_timeout (%s) for a turn; try again later or send fewer requests at once",
					s.cfg.RequestTimeout))
			}
			// The client went away; nobody reads this.
			return nil, newError(CodeCancelled, "request cancelled while waiting for a turn")
		}
	}
	start := time.Now()
	return func() {
		<-s.slots
		s.metrics.handled(time.Since(start))
	}, nil
}

// retryAfter is the Retry-After, in whole seconds, for a request turned
// away: about the time the queue takes to drain at the recent pace.
func (s *Server) retryAfter() int {
	per := s.metrics.handleTime()
	if per <= 0 {
		return 1
	}
	waiting := float64(s.cfg.MaxQueue+s.cfg.MaxConcurrent) / float64(s.cfg.MaxConcurrent)
	return max(1, min(60, int(waiting*per.Seconds()+0.999)))
}
