package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// Service usage over time: every /infer call is counted on this replica
// per service and minute (infer.Usage), added to the store every
// usageFlush and at shutdown (the store sums replicas' counts into one
// row per minute), and read back by GET /services/{id}/usage.
const (
	usageFlush      = 10 * time.Second
	usageMaxMinutes = 7 * 24 * 60
	usagePruneEvery = time.Hour
)

// flushUsage runs until the server closes, adding the minutes gathered
// to the store and dropping those older than store.UsageRetention.
func (s *Server) flushUsage() {
	defer s.wg.Done()
	t := time.NewTicker(usageFlush)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-s.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.storeUsage(ctx)
			cancel()
			return
		case now := <-t.C:
			s.storeUsage(s.ctx)
			if now.Sub(pruned) >= usagePruneEvery {
				pruned = now
				if _, err := s.st.PruneUsage(s.ctx, now.Add(-store.UsageRetention)); err != nil {
					s.log.Warn("dropping old service usage", zap.Error(err))
				}
			}
		}
	}
}

// storeUsage adds what was gathered to the store; on failure it is kept
// for the next try.
func (s *Server) storeUsage(ctx context.Context) {
	got := s.svcs.usage.Drain()
	if len(got) == 0 {
		return
	}
	rows := make([]store.ServiceMinute, 0, len(got))
	for k, m := range got {
		rows = append(rows, store.ServiceMinute{ServiceID: k.Service, Start: k.Start, Calls: m.Calls,
			Client: m.Client, Server: m.Server, Busy: m.Busy, Hist: m.Hist})
	}
	if err := s.st.AddUsage(ctx, rows); err != nil {
		s.log.Warn("storing service usage; kept for the next try", zap.Error(err))
		s.svcs.usage.Restore(got)
	}
}

// serviceUsage is GET /services/{id}/usage?minutes=N: one point per
// minute of the last N (default 60), zero where nothing was called; the
// minutes this replica has not stored yet are added in.
func (s *Server) serviceUsage(c *gin.Context) {
	minutes := 60
	if q := c.Query("minutes"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > usageMaxMinutes {
			failf(c, api.CodeInvalid, "minutes must be a whole number from 1 to %d (7 days)", usageMaxMinutes)
			return
		}
		minutes = n
	}
	sv := s.service(c)
	if sv == nil {
		return
	}
	now := time.Now().UTC().Truncate(time.Minute)
	since := now.Add(-time.Duration(minutes-1) * time.Minute)
	stored, err := s.st.Usage(c.Request.Context(), sv.ID, since)
	if err != nil {
		s.internal(c, err)
		return
	}
	byMinute := make(map[int64]*infer.Minute, len(stored))
	for _, m := range stored {
		byMinute[m.Start.Unix()] = &infer.Minute{Calls: m.Calls, Client: m.Client, Server: m.Server, Busy: m.Busy, Hist: m.Hist}
	}
	for k, m := range s.svcs.usage.Peek(sv.ID) {
		if cur := byMinute[k.Start.Unix()]; cur != nil {
			cur.Merge(m)
		} else if !k.Start.Before(since) {
			byMinute[k.Start.Unix()] = &m
		}
	}
	points := make([]api.UsagePoint, 0, minutes)
	for t := since; !t.After(now); t = t.Add(time.Minute) {
		p := api.UsagePoint{T: t.Unix()}
		if m := byMinute[t.Unix()]; m != nil {
			p.Calls, p.Errors = m.Calls, api.UsageErrors{Client: m.Client, Server: m.Server, Busy: m.Busy}
			p.P50MS, p.P95MS = infer.Quantile(m.Hist, 0.5), infer.Quantile(m.Hist, 0.95)
		}
		points = append(points, p)
	}
	c.JSON(http.StatusOK, api.ServiceUsage{Points: points})
}
