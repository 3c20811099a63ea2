package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	pfleet "github.com/autocv/autocv/protocol/fleet"
)

// Rollouts: a trained version goes out to a group in waves (a canary is
// wave 0). The state lives in the database, so a restarted control plane
// resumes a rollout where it was, and one replica at a time drives it (a
// lease in the rollouts table). Devices tell how it goes through their
// events (progress, applied, rolled back, error) and reported state, both
// naming the desired state's id; an offline device gets its desired state
// retained on the broker and catches up when it reconnects.

// ErrState is a rollout action its status does not allow (pausing a
// finished rollout, resuming a running one).
var ErrState = errors.New("not in a state that allows this")

const defaultHealthTimeout = 10 * time.Minute

// strategy applies the defaults to s and checks it.
func strategy(s api.RolloutStrategy) (api.RolloutStrategy, error) {
	if s.Type == "" {
		s.Type = "all"
	}
	switch {
	case s.Type != "all" && s.Type != "canary" && s.Type != "waves":
		return s, fmt.Errorf("%w: strategy type %q: want all, canary or waves", ErrInvalid, s.Type)
	case s.Canary < 0 || s.CanaryPercent < 0 || s.CanaryPercent > 100 || s.WaveSize < 0 || s.PauseSeconds < 0 ||
		s.FailureBudget < 0 || s.HealthTimeoutSeconds < 0:
		return s, fmt.Errorf("%w: strategy numbers must be ≥ 0 (canary_percent ≤ 100)", ErrInvalid)
	case s.Type == "canary" && s.Canary == 0 && s.CanaryPercent == 0:
		return s, fmt.Errorf("%w: a canary needs canary (devices) or canary_percent", ErrInvalid)
	case s.Type == "waves" && s.WaveSize == 0:
		return s, fmt.Errorf("%w: waves need wave_size", ErrInvalid)
	case s.PauseSeconds > 7*24*3600 || s.HealthTimeoutSeconds > 7*24*3600:
		return s, fmt.Errorf("%w: pause_seconds and health_timeout_seconds are at most a week", ErrInvalid)
	}
	if s.HealthTimeoutSeconds == 0 {
		s.HealthTimeoutSeconds = int(defaultHealthTimeout.Seconds())
	}
	return s, nil
}

// waveOf assigns n devices (in order) to waves; it returns each one's
// wave and how many waves there are.
func waveOf(n int, s api.RolloutStrategy) ([]int, int) {
	out := make([]int, n)
	if n == 0 {
		return out, 0
	}
	first := 0 // devices in a canary wave 0
	if s.Type == "canary" {
		first = s.Canary
		if s.CanaryPercent > 0 {
			first = max(first, int(math.Ceil(float64(n)*s.CanaryPercent/100)))
		}
		first = min(max(first, 1), n)
	}
	wave, inWave := 0, 0
	for i := range out {
		switch {
		case s.Type == "all":
		case i < first:
		case i == first && first > 0:
			wave, inWave = wave+1, 0
		case s.WaveSize > 0 && inWave == s.WaveSize:
			wave, inWave = wave+1, 0
		}
		out[i] = wave
		inWave++
	}
	return out, wave + 1
}

// CreateRollout starts rolling a trained version out to a group's devices.
func (f *Fleet) CreateRollout(ctx context.Context, req api.CreateRolloutRequest, by string) (*store.Rollout, error) {
	s, err := strategy(req.Strategy)
	if err != nil {
		return nil, err
	}
	v, err := f.cfg.Store.Version(ctx, req.ModelID, req.Version)
	if err != nil {
		return nil, fmt.Errorf("version %d of model %s: %w", req.Version, req.ModelID, err)
	}
	if v.Status != store.VersionSucceeded {
		return nil, fmt.Errorf("%w: version %d is %s; only a trained version can be rolled out", ErrNotTrained, v.Number, v.Status)
	}
	if _, err := f.cfg.Store.Group(ctx, req.Group); err != nil {
		return nil, fmt.Errorf("group %s: %w", req.Group, err)
	}
	if rs, err := f.cfg.Store.Rollouts(ctx); err != nil {
		return nil, err
	} else {
		for _, r := range rs {
			if r.Group == req.Group && (r.Status == api.RolloutRunning || r.Status == api.RolloutPaused) {
				return nil, fmt.Errorf("group %s already has rollout %s (%s): %w; abort or finish it first", req.Group, r.ID, r.Status, ErrState)
			}
		}
	}
	ds, err := f.cfg.Store.Devices(ctx, req.Group)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("%w: group %s has no devices", ErrInvalid, req.Group)
	}
	waves, n := waveOf(len(ds), s)
	devs := make([]store.RolloutDevice, len(ds))
	for i, d := range ds {
		devs[i] = store.RolloutDevice{DeviceID: d.ID, Wave: waves[i], State: api.DevicePending,
			PrevModelID: d.DesiredModelID, PrevVersion: d.DesiredVersion}
	}
	raw, _ := json.Marshal(s)
	r := &store.Rollout{ModelID: v.ModelID, Version: v.Number, Group: req.Group, Strategy: raw,
		Status: api.RolloutRunning, Waves: n, CreatedBy: by}
	if err := f.cfg.Store.CreateRollout(ctx, r, devs); err != nil {
		return nil, err
	}
	f.cfg.Log.Info("rollout started", zap.String("rollout", r.ID), zap.String("model", r.ModelID), zap.Int("version", r.Version),
		zap.String("group", r.Group), zap.Int("devices", len(devs)), zap.Int("waves", n))
	f.kick()
	return r, nil
}

// kick makes the driver step soon instead of at its next tick.
func (f *Fleet) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Drive runs the rollouts this replica holds the lease of, every tick
// (and when kicked), until ctx ends. owner names the replica.
func (f *Fleet) Drive(ctx context.Context, owner string, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	ttl := max(30*tick, 30*time.Second)
	for {
		ids, err := f.cfg.Store.ClaimRollouts(ctx, owner, ttl)
		if err != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("claiming rollouts", zap.Error(err))
		}
		claimed := time.Now()
		for _, id := range ids {
			// Each step ends well inside the lease (a broker outage must not
			// hold one past it, or another replica would deploy again).
			left := ttl - time.Since(claimed) - ttl/4
			if left <= 0 {
				break // the rest wait for the next claim
			}
			sctx, cancel := context.WithTimeout(ctx, left)
			err := f.Step(sctx, id)
			cancel()
			if err != nil && ctx.Err() == nil {
				f.cfg.Log.Warn("rollout step", zap.String("rollout", id), zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.wake:
		}
	}
}

// Step moves one running rollout on: it deploys the current wave's
// pending devices, fails those that stay silent past the health timeout,
// stops and rolls back when failures pass the budget, and when the wave
// is done (every device healthy or failed, or offline and told), waits
// the pause and starts the next wave or finishes. The caller holds the
// rollout's lease.
func (f *Fleet) Step(ctx context.Context, id string) error {
	r, devs, err := f.cfg.Store.Rollout(ctx, id)
	if err != nil || r.Status != api.RolloutRunning {
		return err
	}
	var s api.RolloutStrategy
	if err := json.Unmarshal(r.Strategy, &s); err != nil {
		return fmt.Errorf("rollout %s: stored strategy: %w", id, err)
	}
	online := map[string]*store.Device{}
	if ds, err := f.cfg.Store.Devices(ctx, r.Group); err == nil {
		for i := range ds {
			online[ds[i].ID] = &ds[i]
		}
	}
	if failed := countFailed(devs); failed > s.FailureBudget {
		return f.rollBack(ctx, r, devs, api.RolloutFailed,
			fmt.Sprintf("%d device(s) failed, over the failure budget of %d; rolled back", failed, s.FailureBudget))
	}
	now := time.Now()
	timeout := time.Duration(s.HealthTimeoutSeconds) * time.Second
	done, healthy, inWave := true, 0, 0
	for i := range devs {
		d := &devs[i]
		if d.Wave != r.Wave {
			continue
		}
		inWave++
		dev := online[d.DeviceID]
		if dev == nil {
			continue // removed from the group (or the fleet): nothing to wait for
		}
		switch d.State {
		case api.DevicePending:
			d.StartedAt = now
			_, err := f.setDesired(ctx, d.DeviceID, r.ModelID, r.Version, func(desiredID string) error {
				d.State, d.DesiredID = api.DeviceDeploying, desiredID
				return f.cfg.Store.SetRolloutDevice(ctx, r.ID, d)
			})
			switch {
			case err == nil || errors.Is(err, ErrPublish):
				// told (a failed publish is stored and republished)
			case errors.Is(err, ErrNotTrained) || errors.Is(err, store.ErrNotFound):
				d.State, d.Reason = api.DeviceFailed, err.Error()
				if err := f.cfg.Store.SetRolloutDevice(ctx, r.ID, d); err != nil {
					return err
				}
			default:
				return err // a passing fault: the device stays pending for the next step
			}
		case api.DeviceDeploying, api.DeviceTransferring, api.DeviceVerifying, api.DeviceSwapping:
			if applied(dev) == d.DesiredID { // its "applied" event was lost; the reported state says so
				d.State, d.Percent = api.DeviceHealthy, 100
			} else if !dev.Online {
				d.StartedAt = now // the health clock runs while the device is online
			} else if now.Sub(d.StartedAt) > timeout {
				d.State, d.Reason = api.DeviceFailed, fmt.Sprintf("not healthy within %s", timeout)
			}
			if err := f.cfg.Store.SetRolloutDevice(ctx, r.ID, d); err != nil {
				return err
			}
		}
		if d.State == api.DeviceHealthy {
			healthy++
		}
		settled := d.State == api.DeviceHealthy || d.State == api.DeviceFailed || d.State == api.DeviceRolledBack
		if !settled && dev.Online {
			done = false // an offline device was told (retained) and catches up on its own
		}
	}
	if failed := countFailed(devs); failed > s.FailureBudget {
		return f.rollBack(ctx, r, devs, api.RolloutFailed,
			fmt.Sprintf("%d device(s) failed, over the failure budget of %d; rolled back", failed, s.FailureBudget))
	}
	// A wave moves on once it is settled and at least one of its devices
	// proved the version healthy: a canary of offline devices proves
	// nothing, so it waits for them.
	if !done || inWave > 0 && healthy == 0 {
		return nil
	}
	if r.WaveDoneAt.IsZero() {
		r.WaveDoneAt = now
	}
	if now.Sub(r.WaveDoneAt) >= time.Duration(s.PauseSeconds)*time.Second {
		if r.Wave+1 < r.Waves {
			r.Wave, r.WaveDoneAt = r.Wave+1, time.Time{}
			f.kick()
		} else {
			r.Status = api.RolloutSucceeded
			f.cfg.Log.Info("rollout succeeded", zap.String("rollout", r.ID))
		}
	}
	return f.cfg.Store.SetRollout(ctx, r, api.RolloutRunning)
}

func countFailed(devs []store.RolloutDevice) int {
	n := 0
	for _, d := range devs {
		if d.State == api.DeviceFailed {
			n++
		}
	}
	return n
}

// applied is the desired state a device last reported applied and serving.
func applied(d *store.Device) string {
	var r pfleet.Reported
	if len(d.Reported) == 0 || json.Unmarshal(d.Reported, &r) != nil || r.State != pfleet.StateServing {
		return ""
	}
	return r.AppliedDesiredID
}

// rollBack tells every device the rollout changed to run what it ran
// before, and ends the rollout with status.
func (f *Fleet) rollBack(ctx context.Context, r *store.Rollout, devs []store.RolloutDevice, status, why string) error {
	from := r.Status
	r.Status, r.Error = status, why
	if err := f.cfg.Store.SetRollout(ctx, r, from); err != nil {
		return err // changed meanwhile (an abort, another replica): leave it
	}
	for i := range devs {
		d := &devs[i]
		if d.DesiredID == "" || d.State == api.DeviceRolledBack {
			continue
		}
		if cur, err := f.cfg.Store.Device(ctx, d.DeviceID); err != nil || cur.DesiredID != d.DesiredID {
			continue // removed, or told something newer since: not this rollout's to undo
		}
		if d.PrevModelID == "" {
			d.Reason = "nothing ran before: it keeps the new version"
		} else if _, err := f.SetDesired(ctx, d.DeviceID, d.PrevModelID, d.PrevVersion); err != nil && !errors.Is(err, ErrPublish) {
			d.Reason = "rolling back: " + err.Error()
		} else {
			d.State, d.Reason = api.DeviceRolledBack, fmt.Sprintf("back to %s v%d", d.PrevModelID, d.PrevVersion)
		}
		if err := f.cfg.Store.SetRolloutDevice(ctx, r.ID, d); err != nil {
			return err
		}
	}
	f.cfg.Log.Warn("rollout stopped", zap.String("rollout", r.ID), zap.String("status", status), zap.String("why", why))
	return nil
}

// RolloutAction pauses, resumes, aborts or rolls back a rollout.
func (f *Fleet) RolloutAction(ctx context.Context, id, action string) error {
	r, devs, err := f.cfg.Store.Rollout(ctx, id)
	if err != nil {
		return err
	}
	active, from := r.Status == api.RolloutRunning || r.Status == api.RolloutPaused, r.Status
	switch {
	case action == "pause" && r.Status == api.RolloutRunning:
		r.Status = api.RolloutPaused
	case action == "resume" && r.Status == api.RolloutPaused:
		r.Status = api.RolloutRunning
		defer f.kick()
	case action == "abort" && active:
		r.Status, r.Error = api.RolloutAborted, "aborted; devices keep what they run"
	case action == "rollback" && r.Status != api.RolloutRolledBack:
		return f.rollBack(ctx, r, devs, api.RolloutRolledBack, "rolled back by request")
	case !slices.Contains([]string{"pause", "resume", "abort", "rollback"}, action):
		return fmt.Errorf("%w: rollout action %q: want pause, resume, abort or rollback", ErrInvalid, action)
	default:
		return fmt.Errorf("rollout %s is %s: %w (%s)", id, r.Status, ErrState, action)
	}
	return f.cfg.Store.SetRollout(ctx, r, from)
}

// rolloutProgress records what a device's event says about a desired
// state it was sent by a rollout.
func (f *Fleet) rolloutProgress(ctx context.Context, deviceID string, e *pfleet.Event) {
	var state, reason string
	percent := e.Percent
	switch e.Kind {
	case pfleet.EventApplied:
		state, percent = api.DeviceHealthy, 100
	case pfleet.EventRolledBack, pfleet.EventError:
		state, reason = api.DeviceFailed, e.Message
		if len(reason) > 500 {
			reason = reason[:500]
		}
	case pfleet.EventProgress, pfleet.EventAck:
		switch pfleet.State(e.Stage) {
		case pfleet.StateDownloading:
			state = api.DeviceTransferring
		case pfleet.StateVerifying:
			state = api.DeviceVerifying
		case pfleet.StateStarting, pfleet.StateSwapping:
			state = api.DeviceSwapping
		default:
			return
		}
	default:
		return
	}
	changed, err := f.cfg.Store.RolloutDeviceProgress(ctx, deviceID, e.Ref, state, reason, percent)
	if err != nil {
		f.cfg.Log.Warn("recording rollout progress", zap.String("device", deviceID), zap.Error(err))
	}
	if changed && (state == api.DeviceHealthy || state == api.DeviceFailed) {
		f.kick()
	}
}
