package reconcile

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/selfupdate"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fakeUpdater stands in for the command's self-updater: it records what
// it is handed (and the bytes of the file) and fails when told to.
type fakeUpdater struct {
	mu    sync.Mutex
	calls []AgentUpdate
	data  [][]byte
	fail  error
}

func (f *fakeUpdater) update(_ context.Context, u AgentUpdate) error {
	data, err := os.ReadFile(u.Path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.data = append(f.calls, u), append(f.data, data)
	return f.fail
}

func (f *fakeUpdater) called() ([]AgentUpdate, [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]AgentUpdate(nil), f.calls...), append([][]byte(nil), f.data...)
}

// agentTarget makes a binary known to the fetcher and a desired target
// for it, signed with the world's key unless sign says otherwise.
func (w *world) agentTarget(version string, bin []byte, sign func(sum string) string) *fleet.AgentTarget {
	sum, sig := fleet.SignBinary(w.key, bin)
	w.fetch.files[sum] = bin
	s := fleet.EncodeBinarySignature(sig)
	if sign != nil {
		s = sign(sum)
	}
	return &fleet.AgentTarget{Version: version, SHA256: sum, Size: int64(len(bin)), TransferID: "a" + sum[:8], Signature: s}
}

// withUpdater gives the world's reconciler a fake self-updater.
func (w *world) withUpdater(last *selfupdate.Outcome) *fakeUpdater {
	u := &fakeUpdater{}
	w.rec.cfg.UpdateAgent, w.rec.cfg.LastAgentUpdate = u.update, last
	return u
}

func TestAgentUpdateInstallsAndRestarts(t *testing.T) {
	w := newWorld(t, 0)
	upd := w.withUpdater(nil)
	w.run()
	bin := []byte("#!/bin/sh\necho autocv-agent 2.0.0\n")
	a := w.agentTarget("2.0.0", bin, nil)
	w.sess.desired <- &fleet.Desired{Header: fleet.Header{ID: "d1"}, Agent: a, Model: w.pkg(1, nil)}
	w.waitFor("restarting", func(_ *fleet.Reported, evs []*fleet.Event) bool {
		for _, e := range evs {
			if e.Kind == fleet.EventProgress && e.Ref == "d1" && e.Stage == StageRestarting {
				return true
			}
		}
		return false
	})
	calls, data := upd.called()
	if len(calls) != 1 || calls[0].Ref != "d1" || calls[0].Version != "2.0.0" || calls[0].SHA256 != a.SHA256 ||
		string(data[0]) != string(bin) || len(calls[0].Signature) != 64 || !calls[0].TrustKey.Equal(w.rec.cfg.TrustKey) {
		t.Fatalf("updater called with %+v", calls)
	}
	time.Sleep(50 * time.Millisecond)
	_, evs := w.sess.last()
	if event(evs, fleet.EventApplied, "d1") != nil || w.srv.history() != "" {
		t.Errorf("the model part ran before the restart (server calls %q)", w.srv.history())
	}
	if dep, _ := w.dir.Deployment(); dep.HandledDesiredID == "d1" {
		t.Error("d1 marked handled before the restarted agent took it up")
	}
	if w.st.Has(a.SHA256) {
		t.Error("the binary stayed in the package store")
	}
}

func TestAgentUpdateRefused(t *testing.T) {
	_, otherKey, _ := modelpkg.GenerateKey()
	for _, tc := range []struct {
		name     string
		sign     func(sum string) string
		fail     error
		noUpdate bool // Config.UpdateAgent nil
		called   bool
		want     string
	}{
		{name: "unsigned", sign: func(string) string { return "" }, want: "signature is missing"},
		{name: "other key", sign: func(sum string) string {
			return fleet.EncodeBinarySignature(fleet.SignBinaryDigest(otherKey, sum))
		}, want: "not signed by the trusted key"},
		{name: "apply fails", fail: errors.New("does not run on this machine"), called: true, want: "keeps running: does not run"},
		{name: "no self-update", noUpdate: true, want: "without self-update"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 0)
			upd := w.withUpdater(nil)
			upd.fail = tc.fail
			if tc.noUpdate {
				w.rec.cfg.UpdateAgent = nil
			}
			w.run()
			m := w.pkg(1, nil)
			a := w.agentTarget("2.0.0", []byte("new agent"), tc.sign)
			w.sess.desired <- &fleet.Desired{Header: fleet.Header{ID: "d1"}, Agent: a, Model: m}
			w.waitFor("refusal", func(r *fleet.Reported, evs []*fleet.Event) bool {
				return event(evs, fleet.EventError, "d1") != nil && r.State == fleet.StateServing
			})
			rep, evs := w.sess.last()
			if e := event(evs, fleet.EventError, "d1"); !strings.Contains(e.Message, tc.want) {
				t.Errorf("event %q lacks %q", e.Message, tc.want)
			}
			if !strings.Contains(rep.LastError, tc.want) || rep.AgentVersion != "1.0.0" || rep.Model == nil || rep.Model.SHA256 != m.SHA256 {
				t.Errorf("reported %+v; the model should serve and the agent stay at 1.0.0", rep)
			}
			if calls, _ := upd.called(); (len(calls) == 1) != tc.called {
				t.Errorf("updater calls: %d", len(calls))
			}
			if w.st.Has(a.SHA256) {
				t.Error("the refused binary stayed in the package store")
			}
		})
	}
}

// TestAgentUpdateAfterRestart: the restarted agent reports how the update
// of the desired state went, and does not try it again.
func TestAgentUpdateAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string // the restarted agent's
		last    selfupdate.Outcome
		kind    fleet.EventKind
		want    string
	}{
		{name: "updated", version: "2.0.0", last: selfupdate.Outcome{Result: selfupdate.ResultUpdated}, kind: fleet.EventApplied},
		{name: "rolled back", version: "1.0.0", kind: fleet.EventRolledBack, want: "exited before it became healthy",
			last: selfupdate.Outcome{Result: selfupdate.ResultRolledBack, Reason: "the new agent exited before it became healthy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 0)
			a := w.agentTarget("2.0.0", []byte("new agent"), nil)
			tc.last.Ref, tc.last.SHA256 = "d1", a.SHA256
			upd := w.withUpdater(&tc.last)
			w.rec.cfg.AgentVersion = tc.version
			w.run()
			w.sess.desired <- &fleet.Desired{Header: fleet.Header{ID: "d1"}, Agent: a}
			w.waitFor(string(tc.kind), func(_ *fleet.Reported, evs []*fleet.Event) bool { return event(evs, tc.kind, "d1") != nil })
			rep, evs := w.sess.last()
			if e := event(evs, tc.kind, "d1"); !strings.Contains(e.Message, tc.want) {
				t.Errorf("event %q lacks %q", e.Message, tc.want)
			}
			wantApplied := ""
			if tc.kind == fleet.EventApplied {
				wantApplied = "d1"
			}
			if rep.AgentVersion != tc.version || !strings.Contains(rep.LastError, tc.want) || rep.AppliedDesiredID != wantApplied ||
				(tc.want != "" && rep.LastError == "") {
				t.Errorf("reported %+v", rep)
			}
			if calls, _ := upd.called(); len(calls) != 0 {
				t.Errorf("the update was tried again: %+v", calls)
			}
			if dep, _ := w.dir.Deployment(); dep.HandledDesiredID != "d1" {
				t.Errorf("deployment record %+v", dep)
			}
		})
	}
}

// TestTrialAppliesNothing: a new agent binary on trial leaves desired
// states to the agent after the trial.
func TestTrialAppliesNothing(t *testing.T) {
	w := newWorld(t, 0)
	w.rec.cfg.Trial = true
	w.run()
	w.sess.desired <- desired("d1", w.pkg(1, nil))
	<-w.rec.Booted()
	time.Sleep(100 * time.Millisecond)
	_, evs := w.sess.last()
	if len(evs) != 0 || w.srv.history() != "" {
		t.Errorf("on trial: %d events, server calls %q", len(evs), w.srv.history())
	}
	if err := w.rec.Healthy(); err != nil {
		t.Errorf("Healthy with no model deployed: %v", err)
	}
}
