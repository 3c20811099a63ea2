package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"strconv"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/inference"
)

// Reported returns what the agent says about itself now, in state st.
// The last will uses it with fleet.StateOffline.
func Reported(agentVersion, plugin string, st fleet.State) *fleet.Reported {
	return &fleet.Reported{
		Header:       fleet.Header{ID: "will." + nonce()},
		Protocol:     fleet.ProtocolVersion,
		AgentVersion: agentVersion,
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		Plugin:       plugin,
		CPUs:         runtime.NumCPU(),
		State:        st,
	}
}

// reported builds the reported state from the reconciler's fields.
func (r *Reconciler) reported(st fleet.State) *fleet.Reported {
	rep := Reported(r.cfg.AgentVersion, r.cfg.Plugin, st)
	rep.ID = r.nextID("r")
	rep.Time = time.Now().UTC()
	providers := r.cfg.Providers
	if st, err := r.cfg.Server.Status(); err == nil {
		rep.ExecutionProvider = st.Model.ExecutionProvider
		rep.GPU = st.Model.ExecutionProvider == inference.ProviderCUDA
		if len(st.Plugin.ExecutionProviders) > 0 {
			providers = st.Plugin.ExecutionProviders
		}
	}
	rep.ExecutionProviders = providers
	rep.Plugins = runner.Available(providers)
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Model, rep.PreviousModel = r.dep.Current, r.dep.Previous
	if !r.serving {
		rep.Model = nil
	}
	rep.LastError = r.errText
	rep.AppliedDesiredID = r.dep.AppliedDesiredID
	return rep
}

// setState changes the state and sends the reported state if it changed.
func (r *Reconciler) setState(st fleet.State) {
	r.mu.Lock()
	changed := r.st != st
	r.st = st
	r.mu.Unlock()
	if changed {
		r.sendReported()
	}
}

// sendReported queues the current reported state (retained) for the
// broker.
func (r *Reconciler) sendReported() {
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	if err := r.cfg.Session.Send(r.reported(st)); err != nil {
		r.log.Error("reported state not sent", zap.Error(err))
	}
}

// publishOffline says the agent is going away, before a clean disconnect
// (which does not fire the last will).
func (r *Reconciler) publishOffline() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.cfg.Session.Publish(ctx, r.reported(fleet.StateOffline)); err != nil {
		r.log.Warn("offline state not published", zap.Error(err))
	}
}

// event queues an event about desired ref.
func (r *Reconciler) event(kind fleet.EventKind, ref, stage string, percent float64, msg string) {
	e := &fleet.Event{Header: fleet.Header{ID: r.nextID("e")}, Kind: kind, Ref: ref, Stage: stage,
		Percent: percent, Message: clip(msg), Time: time.Now().UTC()}
	if err := r.cfg.Session.Send(e); err != nil {
		r.log.Error("event not sent", zap.String("kind", string(kind)), zap.Error(err))
	}
}

// progress reports download progress as events, at most one per 10% step
// and one a second.
func (r *Reconciler) progress(ref string) transfer.Progress {
	lastStep, lastAt := -1, time.Time{}
	return func(done, total int64) {
		if total <= 0 {
			return
		}
		pct := float64(done) * 100 / float64(total)
		step := int(pct / 10)
		if step == lastStep || (time.Since(lastAt) < time.Second && done < total) {
			return
		}
		lastStep, lastAt = step, time.Now()
		r.event(fleet.EventProgress, ref, string(fleet.StateDownloading), pct, "")
	}
}

// sendTelemetry queues a health sample.
func (r *Reconciler) sendTelemetry() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t := &fleet.Telemetry{
		Header:        fleet.Header{ID: r.nextID("t")},
		UptimeSeconds: int64(time.Since(r.start).Seconds()),
		MemBytes:      int64(ms.Sys),
		Time:          time.Now().UTC(),
	}
	if r.cfg.Meter != nil {
		s := r.cfg.Meter.Snapshot()
		t.Requests, t.Errors, t.LatencyP50Ms, t.LatencyP99Ms = s.Requests, s.Errors, s.P50Ms, s.P99Ms
	}
	if err := r.cfg.Session.Send(t); err != nil {
		r.log.Error("telemetry not sent", zap.Error(err))
	}
}

// nextID returns a message id unique to this agent run: prefix, the run's
// nonce and a sequence number.
func (r *Reconciler) nextID(prefix string) string {
	return prefix + "." + r.nonce + "." + strconv.FormatUint(r.seq.Add(1), 10)
}

func nonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// clip shortens s to fit fleet.MaxTextLen, on a rune boundary.
func clip(s string) string {
	if len(s) <= fleet.MaxTextLen {
		return s
	}
	cut := fleet.MaxTextLen - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
