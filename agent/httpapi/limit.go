package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// DefaultMaxConcurrent is Config.MaxConcurrent's default: twice the CPUs
// the agent may use, enough to keep the plugin's decoders busy while
// requests are read and answered.
func DefaultMaxConcurrent() int { return 2 * runtime.GOMAXPROCS(0) }

// limit admits predict and upload requests: at most MaxConcurrent are
// handled at once (the workers) and at most MaxQueue more wait for a turn,
// in arrival order. A request that finds the workers and the queue full is
// answered at once with 429, code busy and a Retry-After header, so a
// client backs off instead of the agent running out of memory. Admission
// runs before the body is read, so it bounds the memory the bodies take
// (up to MaxUploadBytes each) as well as the work queued on the plugin.
//
// Every admitted request has RequestTimeout from its arrival, the wait in
// the queue and the reading of its body included; past it the answer is
// 504 with code timeout. GET endpoints are never limited: /healthz and
// /metrics answer while the agent is saturated.
func (s *Server) limit(c *gin.Context) {
	deadline := time.Now().Add(s.cfg.RequestTimeout)
	ctx, cancel := context.WithDeadline(c.Request.Context(), deadline)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	// A client that sends its body slowly cannot hold a worker past the
	// deadline either. The connection's deadline is a little later than
	// the context's, so the answer is 504 timeout rather than a cancelled
	// request when both pass.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(deadline.Add(time.Second))

	select {
	case s.slots <- struct{}{}:
	default:
		select {
		case s.queue <- struct{}{}:
		default:
			c.Header("Retry-After", strconv.Itoa(s.retryAfter()))
			abort(c, newError(CodeBusy, fmt.Sprintf(
				"the agent is busy: %d prediction requests are running and %d are waiting; "+
					"try again after Retry-After seconds, or send fewer requests at once (the agent's max_concurrent and max_queue settings)",
				s.cfg.MaxConcurrent, s.cfg.MaxQueue)))
			return
		}
		select {
		case s.slots <- struct{}{}:
			<-s.queue
		case <-ctx.Done():
			<-s.queue
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				abort(c, newError(CodeTimeout, fmt.Sprintf(
					"the agent was busy and this request waited its whole request_timeout (%s) for a turn; try again later or send fewer requests at once",
					s.cfg.RequestTimeout)))
				return
			}
			// The client went away; nobody reads this.
			abort(c, newError(CodeCancelled, "request cancelled while waiting for a turn"))
			return
		}
	}
	defer func() { <-s.slots }()
	start := time.Now()
	c.Next()
	s.metrics.handled(time.Since(start))
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
