package infer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/plugins/host"
)

// restartPolicy: a crashed process is started again after 500ms, 1s and
// 2s; when all three fail the entry is failed until the next Load.
var restartPolicy = host.Backoff{Min: 500 * time.Millisecond, Max: 2 * time.Second, Attempts: 3}

// newSupervisor returns the supervisor of key's entry: it restarts a
// crashed process (restartPolicy), and an unloadable one takes itself out
// of the pool after Config.IdleTimeout without calls.
func (p *Pool) newSupervisor(key Key, path string, unloadable bool) *host.Supervisor {
	log := p.log.With(zap.Stringer("key", key))
	cfg := host.SupervisorConfig{
		Start:  func(ctx context.Context) (host.Proc, error) { return p.startProc(ctx, key, path, log) },
		Logger: log, Restart: restartPolicy, LoadTimeout: p.cfg.LoadTimeout,
		PollInterval: min(max(p.cfg.IdleTimeout/4, 10*time.Millisecond), time.Second),
		OnIdle:       func(sup *host.Supervisor) { p.forget(key, sup) },
	}
	if unloadable {
		cfg.IdleTimeout = p.cfg.IdleTimeout
	}
	return host.NewSupervisor(cfg)
}

// startProc checks that the package is the one key names and starts a
// plugin process for it.
func (p *Pool) startProc(ctx context.Context, key Key, path string, log *zap.Logger) (host.Proc, error) {
	if len(p.cfg.TrustedKeys) == 0 {
		return nil, errors.New("the pool has no trusted signing key (Config.TrustedKeys)")
	}
	if err := checkSHA256(path, key.SHA256); err != nil {
		return nil, err
	}
	proc, err := host.Start(ctx, host.Config{
		Binary: p.cfg.PluginBinary, Name: p.cfg.PluginName, Env: p.cfg.Env, Logger: log,
		StartTimeout: min(p.cfg.LoadTimeout, 30*time.Second),
	})
	if err != nil {
		return nil, err
	}
	return proc, nil
}

// checkSHA256 makes sure the file at path is the package the key names.
func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("package file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("package file: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("package file %s has sha256 %s, not the %s its key names", path, got, want)
	}
	return nil
}

// loadError is why a failed entry serves nothing, in the pool's errors;
// nil when it is not failed.
func loadError(key Key, st host.Status) error {
	switch {
	case st.State != StateFailed:
		return nil
	case errors.Is(st.Err, host.ErrStopped):
		return fmt.Errorf("%w: %s: %w", ErrNotLoaded, key, st.Err)
	}
	return fmt.Errorf("%w: %s: %w", ErrLoadFailed, key, st.Err)
}

// wait returns key's ready instance, waiting while it starts, at most
// until ctx ends. Release it.
func wait(ctx context.Context, key Key, sup *host.Supervisor) (*host.Instance, error) {
	in, err := sup.Wait(ctx)
	switch {
	case err == nil:
		return in, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("model %s is still loading: %w", key, ctx.Err())
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrNotLoaded, key, err)
}
