package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/autocv/autocv/protocol/inference"
)

// Result is a plugin's answer and the model that gave it.
type Result struct {
	inference.PredictResult
	Model inference.Model
}

// Predict runs req on the serving model. It returns ErrUnavailable (with
// the reason) while no process is serving, and when the process dies
// during the call; other errors are the plugin's own.
func (r *Runner) Predict(ctx context.Context, req inference.PredictRequest) (Result, error) {
	in, err := r.sup.Acquire()
	if err != nil {
		return Result{}, r.unavailable(err)
	}
	defer in.Release()
	res, err := in.Proc.API().Predict(ctx, req)
	if err != nil {
		return Result{}, r.gone(in, err)
	}
	return Result{PredictResult: res, Model: in.Model}, nil
}

// Health asks the serving process whether it is alive with a model
// loaded. It returns the status on success and ErrUnavailable otherwise.
func (r *Runner) Health(ctx context.Context) (Status, error) {
	in, err := r.sup.Acquire()
	if err != nil {
		return Status{}, r.unavailable(err)
	}
	defer in.Release()
	pid := in.Proc.Pid()
	h, err := in.Proc.API().Health(ctx)
	if err != nil {
		if err := r.gone(in, err); errors.Is(err, ErrUnavailable) {
			return Status{}, err
		}
		return Status{}, fmt.Errorf("%w: the inference plugin (pid %d) did not answer its health check: %v", ErrUnavailable, pid, err)
	}
	if !h.Loaded {
		return Status{}, fmt.Errorf("%w: the inference plugin (pid %d) answers but has no model loaded", ErrUnavailable, pid)
	}
	return r.status(in), nil
}
