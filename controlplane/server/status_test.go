package server

import (
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
)

func TestTrainerWatch(t *testing.T) {
	var w trainerWatch
	t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	if st := w.status(t0); st.Active != 0 || st.Problems == nil || len(st.Problems) != 0 {
		t.Fatalf("empty watch: %+v (problems must be [] not null)", st)
	}
	nb := []jobs.Problem{{Code: jobs.ProblemNoBackbones, Detail: "looked in /a"}}
	w.lease("ok-1", nil, t0)
	w.lease("bare-1", nb, t0)
	w.lease("bare-2", nb, t0.Add(10*time.Second))
	w.lease("bare-1", nb, t0.Add(30*time.Second)) // reported again: since stays
	st := w.status(t0.Add(31 * time.Second))
	if st.Active != 1 || len(st.Problems) != 1 {
		t.Fatalf("status %+v", st)
	}
	p := st.Problems[0]
	if p.Code != jobs.ProblemNoBackbones || p.Workers != 2 || !p.Since.Equal(t0) || p.Message == "" || p.MessageEN == "" {
		t.Fatalf("problem %+v", p)
	}

	// A leased worker's heartbeats keep it counted; the others fade out.
	w.leased("lease-1", "ok-1")
	w.beat("lease-1", t0.Add(80*time.Second))
	w.beat("lease-1", t0.Add(160*time.Second))
	if st := w.status(t0.Add(170 * time.Second)); st.Active != 1 || len(st.Problems) != 0 {
		t.Fatalf("after 170 s: %+v", st)
	}
	// The problem is fixed: the worker's next request carries none.
	w.lease("bare-2", nb, t0.Add(171*time.Second))
	w.lease("bare-2", nil, t0.Add(172*time.Second))
	if st := w.status(t0.Add(173 * time.Second)); st.Active != 2 || len(st.Problems) != 0 {
		t.Fatalf("after the fix: %+v", st)
	}
}
