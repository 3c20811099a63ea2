package server

import (
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/jobs"
)

// trainerSeen is how long a worker counts after its last lease request or
// heartbeat. Idle workers ask every 5 s, workers with a problem every 30 s,
// working ones beat every lease-TTL/4.
const trainerSeen = 90 * time.Second

// trainerWatch remembers, in memory, which workers this replica heard from
// and what they reported. With several replicas each knows the workers that
// reach it.
type trainerWatch struct {
	mu      sync.Mutex
	workers map[string]*workerSeen // by worker id
	leases  map[string]string      // lease id → worker id, for heartbeats
}

type workerSeen struct {
	last     time.Time
	problems map[string]problemSeen // by code
}

type problemSeen struct {
	since  time.Time
	detail string
}

// lease records a lease request and the problems it carried.
func (w *trainerWatch) lease(worker string, problems []jobs.Problem, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.workers == nil {
		w.workers = map[string]*workerSeen{}
		w.leases = map[string]string{}
	}
	ws := w.workers[worker]
	if ws == nil {
		ws = &workerSeen{}
		w.workers[worker] = ws
	}
	ws.last = now
	old := ws.problems
	ws.problems = map[string]problemSeen{}
	for _, p := range problems {
		since := now
		if o, ok := old[p.Code]; ok {
			since = o.since
		}
		ws.problems[p.Code] = problemSeen{since: since, detail: p.Detail}
	}
	w.forget(now)
}

// leased remembers which worker holds a lease, so its heartbeats count.
func (w *trainerWatch) leased(leaseID, worker string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.leases != nil {
		w.leases[leaseID] = worker
	}
}

// beat records a heartbeat under a lease.
func (w *trainerWatch) beat(leaseID string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ws := w.workers[w.leases[leaseID]]; ws != nil {
		ws.last = now
	}
}

// forget drops workers not heard from lately and their leases.
func (w *trainerWatch) forget(now time.Time) {
	for id, ws := range w.workers {
		if now.Sub(ws.last) > trainerSeen {
			delete(w.workers, id)
		}
	}
	for l, id := range w.leases {
		if w.workers[id] == nil {
			delete(w.leases, l)
		}
	}
}

// status sums up the workers heard from lately.
func (w *trainerWatch) status(now time.Time) api.TrainerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forget(now)
	st := api.TrainerStatus{Problems: []api.Problem{}}
	byCode := map[string]*api.Problem{}
	for _, ws := range w.workers {
		if len(ws.problems) == 0 {
			st.Active++
			continue
		}
		for code, ps := range ws.problems {
			p := byCode[code]
			if p == nil {
				text := jobs.TextFor(code)
				p = &api.Problem{Code: code, Message: text.ZH, MessageEN: text.EN, Since: ps.since.UTC(), Detail: ps.detail}
				byCode[code] = p
			}
			p.Workers++
			if ps.since.Before(p.Since) {
				p.Since = ps.since.UTC()
			}
		}
	}
	for _, p := range byCode {
		st.Problems = append(st.Problems, *p)
	}
	sort.Slice(st.Problems, func(i, j int) bool { return st.Problems[i].Code < st.Problems[j].Code })
	return st
}

func (s *Server) status(c *gin.Context) {
	c.JSON(http.StatusOK, api.Status{Trainers: s.trainers.status(time.Now())})
}
