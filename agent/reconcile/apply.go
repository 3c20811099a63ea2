package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// outcome is how applying a desired model ended, when it did not succeed.
type outcome struct {
	err        error
	rolledBack bool // a model that was serving serves again
}

// boot starts the model recorded as current, or the previous one if the
// current one does not start.
func (r *Reconciler) boot(ctx context.Context) {
	r.mu.Lock()
	dep := r.dep
	r.mu.Unlock()
	for i, m := range []*fleet.ModelRef{dep.Current, dep.Previous} {
		if m == nil {
			continue
		}
		r.setState(fleet.StateStarting)
		err := r.cfg.Server.StartPackage(ctx, r.pkg(m.SHA256))
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.mu.Lock()
			r.serving = true
			if i == 1 { // the previous model took over
				r.dep.Current, r.dep.Previous = dep.Previous, nil
				r.errText = fmt.Sprintf("model %s v%d did not start again (%v); serving the previous one", dep.Current.ID, dep.Current.Version, r.errText)
			}
			r.st = fleet.StateServing
			r.mu.Unlock()
			r.save()
			r.log.Info("serving the deployed model", zap.String("model", m.ID), zap.Int("version", m.Version))
			r.sendReported()
			return
		}
		r.log.Error("deployed model did not start", zap.String("model", m.ID), zap.Int("version", m.Version), zap.Error(err))
		r.mu.Lock()
		r.errText = err.Error()
		r.mu.Unlock()
	}
	r.setState(r.restingState())
}

// apply brings the device to d: the agent binary first (a new one
// restarts the agent, which then takes d up again), then the model. It
// runs in the worker goroutine.
func (r *Reconciler) apply(ctx context.Context, d *fleet.Desired) {
	log := r.log.With(zap.String("desired", d.ID))
	r.event(fleet.EventAck, d.ID, "", 0, "")
	agentOut, restarting := r.updateAgent(ctx, d.ID, d.Agent)
	if restarting {
		return // not handled: the restarted agent takes it up
	}
	var modelOut *outcome
	if ctx.Err() == nil {
		m := d.Model
		r.mu.Lock()
		same := m != nil && r.serving && r.dep.Current != nil && r.dep.Current.SHA256 == m.SHA256
		r.mu.Unlock()
		if m != nil && !same {
			log.Info("deploying model", zap.String("model", m.ID), zap.Int("version", m.Version), zap.Int64("size", m.Size))
			modelOut = r.deploy(ctx, d.ID, m)
		}
	}
	if ctx.Err() != nil {
		log.Info("stopped applying", zap.Error(ctx.Err()))
		r.setState(r.restingState())
		return // not handled: a restart (or the same desired again) takes it up
	}
	r.finish(d.ID, joinOutcomes(agentOut, modelOut))
}

// deploy downloads, verifies and starts model m; nil means it serves now.
func (r *Reconciler) deploy(ctx context.Context, ref string, m *fleet.ModelTarget) *outcome {
	r.setState(fleet.StateDownloading)
	src := transfer.Source{SHA256: m.SHA256, Size: m.Size, TransferID: m.TransferID, URL: m.URL}
	path, err := r.cfg.Fetcher.Fetch(ctx, src, r.progress(ref))
	if err != nil {
		if errors.Is(err, store.ErrDiskFull) {
			err = fmt.Errorf("磁盘空间不足 / not enough disk space for model %s v%d (%d bytes); free space in %s "+
				"or raise --max-store-bytes: %w", m.ID, m.Version, m.Size, r.cfg.State.Packages(), err)
		}
		return r.refused(fmt.Errorf("download of model %s v%d failed: %w", m.ID, m.Version, err))
	}

	r.setState(fleet.StateVerifying)
	pkg, err := modelpkg.VerifyFile(path, r.cfg.TrustKey)
	if err != nil {
		_ = r.cfg.Store.Remove(m.SHA256)
		return r.refused(fmt.Errorf("model %s v%d refused, never loaded: %w", m.ID, m.Version, err))
	}
	if pkg.Manifest.ModelID != m.ID || pkg.Manifest.Version != m.Version {
		r.log.Warn("package manifest names another model than the desired state",
			zap.String("manifest_model", pkg.Manifest.ModelID), zap.Int("manifest_version", pkg.Manifest.Version))
	}

	r.setState(fleet.StateStarting)
	r.mu.Lock()
	serving, prev := r.serving, r.dep.Current
	r.mu.Unlock()
	if !serving {
		err = r.cfg.Server.StartPackage(ctx, r.pkg(m.SHA256))
	} else {
		err = r.cfg.Server.Swap(ctx, r.pkg(m.SHA256))
	}
	if err != nil {
		if ctx.Err() == nil {
			_ = r.cfg.Store.Remove(m.SHA256)
		}
		return &outcome{err: fmt.Errorf("model %s v%d did not pass its start and self-test: %w", m.ID, m.Version, err), rolledBack: serving}
	}
	if serving {
		if err := r.healthy(ctx); err != nil && prev != nil {
			return r.rollback(ctx, m, prev, err)
		}
	}
	r.mu.Lock()
	r.serving = true
	if prev != nil && prev.SHA256 != m.SHA256 {
		r.dep.Previous = prev
	}
	r.dep.Current = &fleet.ModelRef{ID: m.ID, Version: m.Version, SHA256: m.SHA256}
	keep := []string{m.SHA256}
	if r.dep.Previous != nil {
		keep = append(keep, r.dep.Previous.SHA256)
	}
	r.mu.Unlock()
	r.save()
	if removed, err := r.cfg.Store.Keep(keep...); err != nil || len(removed) > 0 {
		r.log.Info("older packages deleted", zap.Strings("sha256", removed), zap.Error(err))
	}
	return nil
}

// refused is an outcome for a package that never reached the plugin: what
// served before still serves.
func (r *Reconciler) refused(err error) *outcome { return &outcome{err: err} }

// healthy waits up to HealthGrace for the newly swapped model to pass a
// health check.
func (r *Reconciler) healthy(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.HealthGrace)
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := r.cfg.Server.Health(hctx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rollback puts the previous model back after the new one failed its
// health check.
func (r *Reconciler) rollback(ctx context.Context, m *fleet.ModelTarget, prev *fleet.ModelRef, why error) *outcome {
	r.log.Warn("new model failed its health check; rolling back", zap.String("model", m.ID), zap.Int("version", m.Version),
		zap.String("back_to", prev.ID), zap.Int("back_to_version", prev.Version), zap.Error(why))
	r.setState(fleet.StateRollingBack)
	err := fmt.Errorf("model %s v%d failed its health check after the swap (%v); back to %s v%d", m.ID, m.Version, why, prev.ID, prev.Version)
	if serr := r.cfg.Server.Swap(ctx, r.pkg(prev.SHA256)); serr != nil {
		return &outcome{err: fmt.Errorf("%w; putting the previous model back failed too: %v", err, serr)}
	}
	_ = r.cfg.Store.Remove(m.SHA256)
	return &outcome{err: err, rolledBack: true}
}

// finish records the end of applying desired ref and reports it.
func (r *Reconciler) finish(ref string, out *outcome) {
	r.mu.Lock()
	r.dep.HandledDesiredID = ref
	if out == nil {
		r.dep.AppliedDesiredID, r.dep.LastError, r.errText = ref, "", ""
	} else {
		r.dep.LastError, r.errText = clip(out.err.Error()), clip(out.err.Error())
	}
	r.mu.Unlock()
	r.save()
	st := r.restingState()
	r.mu.Lock()
	r.st = st
	r.mu.Unlock()
	r.sendReported() // even in the same state: applied_desired_id, last_error changed
	switch {
	case out == nil:
		r.log.Info("desired state applied", zap.String("desired", ref))
		r.event(fleet.EventApplied, ref, "", 100, "")
	case out.rolledBack:
		r.log.Warn("desired state rolled back", zap.String("desired", ref), zap.Error(out.err))
		r.event(fleet.EventRolledBack, ref, "", 0, out.err.Error())
	default:
		r.log.Warn("desired state refused", zap.String("desired", ref), zap.Error(out.err))
		r.event(fleet.EventError, ref, "", 0, out.err.Error())
	}
}

// restingState is the state between deployments.
func (r *Reconciler) restingState() fleet.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.serving:
		return fleet.StateServing
	case r.errText != "":
		return fleet.StateFailed
	}
	return fleet.StateIdle
}

// pkg is the runner package for a stored sha256.
func (r *Reconciler) pkg(sum string) runner.Package {
	return runner.Package{Path: r.cfg.Store.Path(sum), TrustedKeys: [][]byte{r.cfg.TrustPEM}}
}

// save writes the deployment record.
func (r *Reconciler) save() {
	r.mu.Lock()
	dep := r.dep
	r.mu.Unlock()
	if err := r.cfg.State.SaveDeployment(dep); err != nil {
		r.log.Error("deployment record not saved", zap.Error(err))
	}
}
