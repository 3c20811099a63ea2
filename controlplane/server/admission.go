package server

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/semaphore"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
)

// Admission by cost, not by count: a request that will decode images
// takes their decoded size (imagerules.DecodeCost, from the headers) from
// a budget before any pixel is decoded, waits for it briefly, and beyond
// that is answered 429 busy with Retry-After — never an unbounded queue.
// One budget covers what this process decodes (images added to a
// dataset); another what it hands the inference plugins (cloud APIs and
// 校验), sized like the plugins' own decode budget, so a burst of
// pixel-heavy photos waits its turn here instead of in their memory.

// budget is a weighted semaphore of bytes.
type budget struct {
	sem  *semaphore.Weighted
	size int64
}

func newBudget(size int64) *budget { return &budget{sem: semaphore.NewWeighted(size), size: size} }

// admitWait is how long a request waits for its share of a budget.
const admitWait = 2 * time.Second

// admit takes the decode cost of imgs from b for the request; it answers
// 429 busy and returns false when the budget stays spent for admitWait.
// release gives the share back.
func admit(c *gin.Context, b *budget, imgs [][]byte) (release func(), ok bool) {
	var cost int64
	for _, im := range imgs {
		n, _ := imagerules.DecodeCost(im)
		cost = min(cost+min(n, b.size), b.size) // saturating: a header may claim 2^62 bytes
	}
	cost = max(cost, 1) // one request never needs more than all of it
	ctx, cancel := context.WithTimeout(c.Request.Context(), admitWait)
	defer cancel()
	if err := b.sem.Acquire(ctx, cost); err != nil {
		switch {
		case errors.Is(c.Request.Context().Err(), context.Canceled):
			c.Abort() // the client went away
			return nil, false
		case c.Request.Context().Err() != nil:
			abortAPI(c, api.Errorf(api.CodeTimeout, "the request ran out of time waiting to be decoded"))
			return nil, false
		}
		c.Header("Retry-After", strconv.Itoa(int(admitWait.Seconds())))
		abortAPI(c, api.Errorf(api.CodeBusy, "busy: the images in flight already take %d MB to decode; try again in a moment", b.size>>20))
		return nil, false
	}
	return func() { b.sem.Release(cost) }, true
}
