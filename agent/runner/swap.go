package runner

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Swap loads pkg into a new plugin process and, once it has loaded, makes
// it the serving one in a single step. Requests already running on the old
// process finish there (up to DrainTimeout); then it is killed. If pkg does
// not load, the old process keeps serving and the error says why.
func (r *Runner) Swap(ctx context.Context, pkg Package) error {
	r.swapMu.Lock()
	defer r.swapMu.Unlock()
	start := time.Now()
	in, err := r.launch(ctx, pkg)
	if err != nil {
		return fmt.Errorf("swap to %s: %w (the previous model keeps serving)", pkg.Path, err)
	}
	r.mu.Lock()
	if r.closed || !r.started {
		r.mu.Unlock()
		in.retire(0)
		return fmt.Errorf("swap to %s: %w: the runner is not running (Start it first; Swap after Close is refused)", pkg.Path, ErrUnavailable)
	}
	old := r.cur.Swap(in)
	r.pkg = pkg
	r.mu.Unlock()

	fields := []zap.Field{zap.String("model", in.model.ID), zap.Int("version", in.model.Version),
		zap.Int("pid", in.proc.Pid()), zap.Duration("took", time.Since(start))}
	if old != nil {
		fields = append(fields, zap.Int("old_pid", old.proc.Pid()))
	}
	r.log.Info("model swapped", fields...)
	if old != nil {
		old.retire(r.cfg.DrainTimeout)
	}
	return nil
}
