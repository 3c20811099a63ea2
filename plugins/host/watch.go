package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/inference"
)

// watch looks at the serving process every PollInterval (and when a call
// saw it die): it unloads an idle supervisor, replaces a process that died
// or fails its health checks, and restarts it. It runs until Stop.
func (s *Supervisor) watch() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	var health healthWatch
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
		if s.unloadIdle() {
			return
		}
		s.mu.Lock()
		in := s.cur
		s.mu.Unlock()
		if in != nil {
			if err := s.check(&health, in); err != nil {
				s.down(in, err)
			}
		}
		s.mu.Lock()
		crashed := s.crashed
		s.mu.Unlock()
		if crashed {
			s.restart()
		}
	}
}

// unloadIdle stops the supervisor when no call has used it for
// IdleTimeout and reports whether it did.
func (s *Supervisor) unloadIdle() bool {
	s.mu.Lock()
	idle := time.Since(s.used)
	if s.idle <= 0 || idle < s.idle || s.stopped || s.state == StateStarting || (s.cur != nil && s.cur.refs > 0) {
		s.mu.Unlock()
		return false
	}
	in := s.stop()
	s.mu.Unlock()
	s.log.Info("unloading idle model", zap.Duration("idle", idle))
	if s.cfg.OnIdle != nil {
		s.cfg.OnIdle(s)
	}
	s.cancel()
	if in != nil {
		s.retire(in, false) // no call holds it
	}
	return true
}

// restart starts a new process with the package last loaded, waiting
// Restart.Delay before each attempt, until one serves, a Load installs
// one, the attempts run out (the supervisor fails) or Stop.
func (s *Supervisor) restart() {
	b := s.cfg.Restart
	var err error
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		if !s.crashed {
			s.mu.Unlock()
			return // a Load installed a process, or Stop
		}
		if b.Attempts > 0 && attempt > b.Attempts {
			s.crashed = false
			s.set(StateFailed, fmt.Errorf("restarting after a crash failed %d times: %w", b.Attempts, err))
			s.mu.Unlock()
			return
		}
		delay := b.Delay(s.attempts)
		s.attempts++
		s.set(StateStarting, fmt.Errorf("the inference plugin stopped (%v); restarting it in %s (attempt %d)",
			s.lastErr, delay.Round(time.Millisecond), attempt))
		req, gen := s.req, s.gen
		s.mu.Unlock()
		s.log.Info("restarting plugin", zap.Duration("delay", delay), zap.Int("attempt", attempt))
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}

		s.mu.Lock()
		if s.crashed {
			s.set(StateStarting, fmt.Errorf("the inference plugin is restarting and reloading the model package (attempt %d)", attempt))
		}
		s.mu.Unlock()
		var in *Instance
		if in, err = s.launch(s.ctx, req); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.log.Warn("plugin restart failed", zap.Int("attempt", attempt), zap.Error(err))
			continue
		}
		s.mu.Lock()
		if !s.crashed {
			s.mu.Unlock()
			in.Proc.Kill()
			return
		}
		if s.gen != gen {
			// A Load installed another package while this restart waited
			// (and that one died too): start that one instead, not the old.
			s.mu.Unlock()
			in.Proc.Kill()
			continue
		}
		s.install(in)
		s.restarts++
		n := s.restarts
		s.mu.Unlock()
		s.log.Info("plugin restarted", zap.Int("pid", in.Proc.Pid()), zap.Int("restarts", n))
		return
	}
}

// healthWatch is watch's record of the serving process's health checks.
type healthWatch struct {
	in    *Instance // the process checked; a new one starts afresh
	fails int       // health checks failed in a row
	next  time.Time // when the next check is due
}

// check returns why in must be replaced: its process exited, or it failed
// Health.Failures health checks in a row (it hangs, or lost its model).
// Otherwise it returns nil.
func (s *Supervisor) check(w *healthWatch, in *Instance) error {
	if in.Proc.Exited() {
		return fmt.Errorf("process %d exited", in.Proc.Pid())
	}
	hc := s.cfg.Health
	now := time.Now()
	if hc.Interval <= 0 {
		return nil
	}
	if w.in != in {
		*w = healthWatch{in: in, next: now.Add(hc.Interval)}
		return nil
	}
	if now.Before(w.next) {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, hc.Timeout)
	h, err := in.Proc.API().Health(ctx)
	cancel()
	w.next = time.Now().Add(hc.Interval)
	switch {
	case s.ctx.Err() != nil:
		return nil // stopping
	case errors.Is(err, inference.ErrPluginGone) || in.Proc.Exited():
		return fmt.Errorf("process %d is gone (%v)", in.Proc.Pid(), err)
	case err == nil && h.Loaded:
		w.fails = 0
		return nil
	case err == nil:
		err = errors.New("it answers but has no model loaded")
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("no answer within %s", hc.Timeout)
	}
	w.fails++
	s.log.Warn("plugin health check failed", zap.Int("pid", in.Proc.Pid()),
		zap.Int("failures", w.fails), zap.Int("limit", hc.Failures), zap.Error(err))
	if w.fails < hc.Failures {
		return nil
	}
	return fmt.Errorf("process %d failed %d health checks in a row, the last: %v; it was killed", in.Proc.Pid(), w.fails, err)
}
