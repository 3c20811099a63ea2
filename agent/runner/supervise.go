package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/inference"
)

// stableAfter is how long a process must have served before its death
// resets the restart back-off: a plugin that crashes again right after
// every restart is restarted ever more slowly, up to MaxBackoff.
const stableAfter = time.Minute

// supervise watches the serving process and replaces it when it dies or
// stops answering its health checks. It runs until Close.
func (r *Runner) supervise() {
	tick := time.NewTicker(r.cfg.PollInterval)
	defer tick.Stop()
	failures := 0 // consecutive short-lived processes
	var health healthWatch
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
		if in := r.cur.Load(); in != nil {
			why := ""
			if in.proc.Exited() {
				why = fmt.Sprintf("process %d exited", in.proc.Pid())
			} else {
				why = r.checkHealth(&health, in)
			}
			if why == "" {
				continue
			}
			r.markGone(in, why)
		}
		if r.cur.Load() != nil {
			continue // a Swap installed a new process
		}
		if time.Duration(r.lastLife.Load()) >= stableAfter {
			failures = 0
		}
		r.restart(failures)
		failures++
	}
}

// restart starts a new process with the current package, retrying with
// back-off until one loads, a Swap installs one, or Close.
func (r *Runner) restart(failures int) {
	for attempt := 1; ; attempt++ {
		delay := r.backoff(failures + attempt - 1)
		r.setReason(fmt.Sprintf("the inference plugin stopped (%s); restarting it in %s (attempt %d)",
			r.why(), delay.Round(time.Millisecond), attempt))
		r.log.Info("restarting plugin", zap.Duration("delay", delay), zap.Int("attempt", attempt))
		t := time.NewTimer(delay)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if r.cur.Load() != nil {
			return // a Swap installed a new process meanwhile
		}
		r.mu.Lock()
		pkg := r.pkg
		r.mu.Unlock()
		r.setReason(fmt.Sprintf("the inference plugin is restarting and reloading the model package (attempt %d)", attempt))
		in, err := r.launch(r.ctx, pkg)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.log.Warn("plugin restart failed", zap.Int("attempt", attempt), zap.Error(err))
			continue
		}
		r.mu.Lock()
		if r.closed || !r.cur.CompareAndSwap(nil, in) {
			r.mu.Unlock()
			in.retire(0)
			return
		}
		r.mu.Unlock()
		n := r.restarts.Add(1)
		r.log.Info("plugin restarted", zap.Int("pid", in.proc.Pid()), zap.Uint64("restarts", n))
		return
	}
}

// backoff is the delay before restart number n (0-based): MinBackoff
// doubling up to MaxBackoff.
func (r *Runner) backoff(n int) time.Duration {
	d := r.cfg.MinBackoff
	for range n {
		d *= 2
		if d >= r.cfg.MaxBackoff {
			return r.cfg.MaxBackoff
		}
	}
	return d
}

// why is what killed the last process that died.
func (r *Runner) why() string {
	if w := r.lastWhy.Load(); w != nil {
		return *w
	}
	return "unknown cause"
}

// healthWatch is the supervisor's record of the serving process's health
// checks.
type healthWatch struct {
	in    *instance // the process checked; a new one starts afresh
	fails int       // health checks failed in a row
	next  time.Time // when the next check is due
}

// checkHealth calls Health on in when a check is due (every
// HealthInterval, with HealthTimeout) and returns why in must be replaced:
// its process is gone, or it failed HealthFailures checks in a row (it
// hangs, or lost its model). Otherwise it returns "".
func (r *Runner) checkHealth(w *healthWatch, in *instance) string {
	now := time.Now()
	if w.in != in {
		*w = healthWatch{in: in, next: now.Add(r.cfg.HealthInterval)}
		return ""
	}
	if now.Before(w.next) {
		return ""
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.HealthTimeout)
	h, err := in.proc.API().Health(ctx)
	cancel()
	w.next = time.Now().Add(r.cfg.HealthInterval)
	switch {
	case r.ctx.Err() != nil:
		return "" // closing
	case errors.Is(err, inference.ErrPluginGone) || in.proc.Exited():
		return fmt.Sprintf("process %d is gone (%v)", in.proc.Pid(), err)
	case err == nil && h.Loaded:
		w.fails = 0
		return ""
	case err == nil:
		err = errors.New("it answers but has no model loaded")
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("no answer within %s", r.cfg.HealthTimeout)
	}
	w.fails++
	r.log.Warn("plugin health check failed", zap.Int("pid", in.proc.Pid()),
		zap.Int("failures", w.fails), zap.Int("limit", r.cfg.HealthFailures), zap.Error(err))
	if w.fails < r.cfg.HealthFailures {
		return ""
	}
	return fmt.Sprintf("process %d failed %d health checks in a row, the last: %v; it was killed", in.proc.Pid(), w.fails, err)
}
