package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/reconcile"
	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/agent/service"
	"github.com/autocv/autocv/internal/buildinfo"
)

// exitServiceRestart is the service-specific exit code with which a
// Windows service agent asks the SCM's recovery action to start it again
// after replacing its binary.
const exitServiceRestart = 3

// selfUpdater carries a self-update from the code that decides on it (the
// desired agent version over MQTT in run mode; a test hook in serve mode)
// to the end of the command, where the agent restarts into the new binary
// once its one shutdown path has run: root context cancelled, requests
// drained, plugins stopped, port released.
type selfUpdater struct {
	log  *zap.Logger
	stop context.CancelFunc // the root context's

	mu            sync.Mutex
	pending       *selfupdate.Pending
	healthTimeout time.Duration // 0: selfupdate's default
}

func newSelfUpdater(log *zap.Logger, stop context.CancelFunc) *selfUpdater {
	return &selfUpdater{log: log, stop: stop}
}

// Apply verifies the new binary at binaryPath (sha256 and the trusted
// key's signature, see selfupdate), installs it with the old one kept
// beside, and starts the agent's shutdown; the command's end restarts it
// (finish). On error nothing changed and the agent keeps serving. Only
// the first update applies; a second one while the first is pending is
// refused.
func (u *selfUpdater) Apply(ctx context.Context, binaryPath, sha256Hex string, signature []byte, trustedKey ed25519.PublicKey) error {
	return u.apply(ctx, "", binaryPath, sha256Hex, signature, trustedKey)
}

// update is Apply for the reconciler (reconcile.Config.UpdateAgent): the
// desired state's id goes into the outcome the restarted agent reads.
func (u *selfUpdater) update(ctx context.Context, au reconcile.AgentUpdate) error {
	return u.apply(ctx, au.Ref, au.Path, au.SHA256, au.Signature, au.TrustKey)
}

func (u *selfUpdater) apply(ctx context.Context, ref, binaryPath, sha256Hex string, signature []byte, trustedKey ed25519.PublicKey) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending != nil {
		return errors.New("an agent update is already in progress; the agent is restarting")
	}
	up := &selfupdate.Updater{HealthTimeout: u.healthTimeout, Ref: ref, Logger: u.log}
	p, err := up.Apply(ctx, binaryPath, sha256Hex, signature, trustedKey)
	if err != nil {
		u.log.Warn("agent update refused; this binary keeps serving", zap.String("binary", binaryPath), zap.Error(err))
		return err
	}
	u.pending = p
	u.log.Info("agent binary replaced; shutting down to restart into it", zap.String("version", p.Version()))
	u.stop()
	return nil
}

// finish ends the command: with no update pending it tells the service
// manager the agent stopped and returns err; with one it tries the new
// binary and restarts into it or, if it does not come up, into the
// restored old one (selfupdate.Pending.Restart). On Unix a restart does
// not return.
func (u *selfUpdater) finish(err error, svc *service.Service) error {
	u.mu.Lock()
	p := u.pending
	u.mu.Unlock()
	if p == nil {
		code := uint32(0)
		if err != nil {
			code = 1
		}
		svc.Close(code)
		return err
	}
	if err != nil {
		u.log.Warn("the agent stopped with an error before restarting into its new binary", zap.Error(err))
	}
	svc.Status("updating the agent to " + p.Version())
	rerr := p.Restart(selfupdate.RestartOptions{
		FromVersion: buildinfo.String(),
		KeepAlive:   svc.KeepAlive,
		Managed:     svc.Managed() && runtime.GOOS == "windows",
	})
	switch {
	case errors.Is(rerr, selfupdate.ErrServiceRestart):
		svc.Close(exitServiceRestart)
		return rerr
	case errors.Is(rerr, selfupdate.ErrAborted):
		svc.Close(0)
		u.log.Info("stopped", zap.NamedError("update", rerr))
		return nil
	}
	svc.Close(1)
	return rerr
}
