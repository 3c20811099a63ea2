package reconcile

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
)

// StageRestarting is the Event stage of an agent that installed a new
// binary of itself and is restarting into it.
const StageRestarting = "restarting"

// AgentUpdate is a downloaded, signature-checked agent binary handed to
// Config.UpdateAgent.
type AgentUpdate struct {
	Ref       string // the desired state's id
	Version   string // the desired agent version
	Path      string // the binary, in the package store
	SHA256    string // lowercase hex, checked by the store
	Signature []byte // checked with TrustKey (fleet.VerifyBinaryDigest)
	TrustKey  ed25519.PublicKey
}

// updateAgent brings the agent binary to a, when the desired state names
// one. It returns the outcome of the agent part (nil: nothing to do or
// done) or, with restarting true, that the new binary is installed and the
// agent is on its way to restart into it: the desired state is then left
// unhandled, and the restarted agent (new or, after a failed trial,
// restored) takes it up again and reports how it went.
func (r *Reconciler) updateAgent(ctx context.Context, ref string, a *fleet.AgentTarget) (out *outcome, restarting bool) {
	if a == nil {
		return nil, false
	}
	log := r.log.With(zap.String("desired", ref), zap.String("agent_version", a.Version))
	last := r.cfg.LastAgentUpdate
	ours := last != nil && last.Ref == ref && strings.EqualFold(last.SHA256, a.SHA256)
	switch {
	case a.Version == r.cfg.AgentVersion || ours && last.Result == selfupdate.ResultUpdated:
		return nil, false
	case ours && last.Result == selfupdate.ResultRolledBack:
		return &outcome{err: fmt.Errorf("agent %s did not become healthy and agent %s was restored: %s",
			a.Version, r.cfg.AgentVersion, last.Reason), rolledBack: true}, false
	case r.cfg.UpdateAgent == nil:
		return r.refused(fmt.Errorf("agent %s not installed: this agent (%s) was started without self-update", a.Version, r.cfg.AgentVersion)), false
	}
	sig, err := fleet.DecodeBinarySignature(a.Signature)
	if err == nil && sig == nil {
		err = errors.New("is missing")
	}
	if err != nil {
		return r.refused(fmt.Errorf("agent %s refused, never downloaded: its signature %v; "+
			"the control plane must sign agent binaries (fleet.SignBinary)", a.Version, err)), false
	}

	log.Info("updating the agent", zap.String("from", r.cfg.AgentVersion), zap.Int64("size", a.Size))
	r.setState(fleet.StateDownloading)
	src := transfer.Source{SHA256: a.SHA256, Size: a.Size, TransferID: a.TransferID, URL: a.URL}
	path, err := r.cfg.Fetcher.Fetch(ctx, src, r.progress(ref))
	if ctx.Err() != nil {
		return nil, false
	}
	if err != nil {
		if errors.Is(err, store.ErrDiskFull) {
			err = fmt.Errorf("磁盘空间不足 / not enough disk space for agent %s (%d bytes); free space in %s: %w",
				a.Version, a.Size, r.cfg.State.Packages(), err)
		}
		return r.refused(fmt.Errorf("download of agent %s failed: %w", a.Version, err)), false
	}
	defer func() { _ = r.cfg.Store.Remove(a.SHA256) }() // installed beside the executable, or refused

	r.setState(fleet.StateVerifying)
	if err := fleet.VerifyBinaryDigest(a.SHA256, sig, r.cfg.TrustKey); err != nil {
		return r.refused(fmt.Errorf("agent %s refused, never installed: %w", a.Version, err)), false
	}
	r.setState(fleet.StateStarting)
	err = r.cfg.UpdateAgent(ctx, AgentUpdate{Ref: ref, Version: a.Version, Path: path, SHA256: strings.ToLower(a.SHA256),
		Signature: sig, TrustKey: r.cfg.TrustKey})
	if err != nil {
		if ctx.Err() != nil {
			return nil, false
		}
		return r.refused(fmt.Errorf("agent %s not installed; agent %s keeps running: %w", a.Version, r.cfg.AgentVersion, err)), false
	}
	log.Info("new agent binary installed; restarting into it")
	r.event(fleet.EventProgress, ref, StageRestarting, 100,
		fmt.Sprintf("agent %s installed; restarting into it (agent %s is kept to fall back to)", a.Version, r.cfg.AgentVersion))
	return nil, true
}

// joinOutcomes combines the agent and the model part of one desired state.
func joinOutcomes(a, b *outcome) *outcome {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &outcome{err: fmt.Errorf("%w; %w", a.err, b.err), rolledBack: a.rolledBack || b.rolledBack}
}
