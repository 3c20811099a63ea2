package httpapi

import (
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

// limit admits at most MaxConcurrent predict and upload requests at once.
// It runs before the body is read, so it bounds the memory the bodies take
// (up to MaxUploadBytes each) as well as the work queued on the plugin.
// A request that finds every slot taken waits up to BusyWait, which
// smooths out short bursts; after that it is answered 503 with code busy
// and a Retry-After header, so a client backs off instead of the agent
// running out of memory. GET endpoints are never limited: /healthz and
// /metrics answer while the agent is saturated.
func (s *Server) limit(c *gin.Context) {
	select {
	case s.slots <- struct{}{}:
	default:
		t := time.NewTimer(s.cfg.BusyWait)
		defer t.Stop()
		select {
		case s.slots <- struct{}{}:
		case <-t.C:
			c.Header("Retry-After", strconv.Itoa(max(1, int(s.cfg.BusyWait/time.Second))))
			abort(c, newError(http.StatusServiceUnavailable, CodeBusy, fmt.Sprintf(
				"the agent is busy: %d prediction requests are running and this one waited %s for a turn; "+
					"try again in a moment, or send fewer requests at once (the agent's max_concurrent setting)",
				s.cfg.MaxConcurrent, s.cfg.BusyWait)))
			return
		case <-c.Request.Context().Done():
			// The client went away; nobody reads this.
			abort(c, newError(499, CodeTimeout, "request cancelled while waiting for a turn"))
			return
		}
	}
	defer func() { <-s.slots }()
	c.Next()
}
