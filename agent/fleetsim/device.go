package fleetsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/session"
	"github.com/autocv/autocv/protocol/fleet"
)

// device is one simulated agent: its own MQTT session, no files, no
// inference. The package is hashed as it arrives and then dropped, so a
// device holds no package bytes (the swap is simulated: sha256 only, the
// package signature and manifest are not checked).
type device struct {
	sim    *Sim
	id     string
	creds  fleet.MQTTCredentials
	faults map[FaultKind]bool
	log    *zap.Logger

	mu      sync.Mutex
	sess    *session.Session
	current *fleet.ModelRef
	prev    *fleet.ModelRef
	state   fleet.State
	lastErr string
	applied string
	seq     atomic.Int64
}

func (d *device) nextID(p string) string { return p + "." + strconv.FormatInt(d.seq.Add(1), 10) }

func (d *device) open() {
	will := &fleet.Reported{Header: fleet.Header{ID: d.nextID("will")}, Protocol: fleet.ProtocolVersion,
		AgentVersion: d.sim.cfg.AgentVersion, OS: "linux", Arch: "amd64", State: fleet.StateOffline}
	s, err := session.Open(session.Config{DeviceID: d.id, Broker: d.creds, Will: will, Logger: d.log,
		ConnectRetryInterval: time.Second, MaxReconnectInterval: 5 * time.Second})
	if err != nil {
		d.log.Error("session", zap.Error(err))
		return
	}
	d.mu.Lock()
	d.sess = s
	d.mu.Unlock()
}

func (d *device) session() *session.Session {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess
}

// run serves desired states until ctx ends.
func (d *device) run(ctx context.Context) {
	d.open()
	if d.faults[TelemetryFlood] {
		go d.flood(ctx)
	}
	offlineDone := !d.faults[Offline]
	for {
		s := d.session()
		select {
		case <-ctx.Done():
			s.Close(0)
			return
		case <-s.Subscribed():
		}
		d.report(d.servingState())
		if !offlineDone { // go away once, a little after connecting, and come back
			offlineDone = true
			if !sleep(ctx, d.sim.cfg.OfflineAfter) {
				s.Close(0)
				return
			}
			s.Close(0)
			d.sim.stats.offline.Add(1)
			if !sleep(ctx, d.sim.cfg.OfflineFor) {
				return
			}
			d.open()
			continue
		}
		select {
		case <-ctx.Done():
			s.Close(0)
			return
		case want := <-s.Desired():
			for want != nil {
				var err error
				if want, err = d.applyUntilNewer(ctx, s, want); err == errCrashed {
					s.Close(0)
					if !sleep(ctx, time.Second) {
						return
					}
					d.open()
					break
				}
			}
		}
	}
}

// applyUntilNewer applies want, and abandons it when a newer desired
// state arrives meanwhile (as the real agent's reconciler does: the
// control plane stops answering chunk requests for a package that is no
// longer desired, so a device that kept fetching would stall for ever).
// It returns the newer state, or nil and apply's error.
func (d *device) applyUntilNewer(ctx context.Context, s *session.Session, want *fleet.Desired) (*fleet.Desired, error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.apply(actx, s, want) }()
	select {
	case err := <-done:
		return nil, err
	case next := <-s.Desired():
		d.log.Debug("newer desired state; abandoning the one being applied",
			zap.String("abandoned", want.ID), zap.String("desired", next.ID))
		cancel()
		<-done
		return next, nil
	}
}

var errCrashed = errors.New("crashed on swap (simulated)")

func (d *device) apply(ctx context.Context, s *session.Session, want *fleet.Desired) error {
	m := want.Model
	d.mu.Lock()
	same := m == nil || (d.current != nil && d.current.SHA256 == m.SHA256)
	d.mu.Unlock()
	if same {
		d.mu.Lock()
		d.applied = want.ID
		d.mu.Unlock()
		d.report(d.servingState())
		return nil
	}
	d.event(fleet.EventAck, want.ID, "", 0, "")
	d.report(fleet.StateDownloading)
	sum, err := d.fetch(ctx, s, want.ID, m)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // abandoned or stopping: not a failure of the package
		}
		return d.fail(want.ID, "下载失败 / download failed: "+err.Error())
	}
	d.sim.stats.bytes.Add(m.Size)
	d.report(fleet.StateVerifying)
	if sum != m.SHA256 {
		return d.fail(want.ID, fmt.Sprintf("sha256 不符 / sha256 mismatch: got %s, want %s", sum, m.SHA256))
	}
	d.report(fleet.StateStarting)
	if d.faults[FailSelfTest] {
		d.sim.stats.failed.Add(1)
		return d.fail(want.ID, "自检失败（模拟）/ self-test failed (simulated)")
	}
	d.report(fleet.StateSwapping)
	if d.faults[CrashOnSwap] { // once: the restarted agent tries again
		d.faults[CrashOnSwap] = false
		d.sim.stats.crashed.Add(1)
		return errCrashed
	}
	d.mu.Lock()
	d.prev, d.current = d.current, &fleet.ModelRef{ID: m.ID, Version: m.Version, SHA256: m.SHA256}
	d.applied, d.lastErr = want.ID, ""
	d.mu.Unlock()
	d.report(fleet.StateServing)
	d.event(fleet.EventApplied, want.ID, "", 100, "")
	d.sim.stats.healthy.Add(1)
	return nil
}

func (d *device) servingState() fleet.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current != nil {
		return fleet.StateServing
	}
	return fleet.StateIdle
}

func (d *device) fail(ref, why string) error {
	d.mu.Lock()
	d.lastErr, d.applied = why, ref
	d.mu.Unlock()
	d.event(fleet.EventError, ref, "", 0, why)
	d.report(fleet.StateFailed)
	return errors.New(why)
}

// fetch downloads the package the way the real agent does (MQTT transfer
// when the desired state names one, else the signed URL) and returns its
// sha256.
func (d *device) fetch(ctx context.Context, s *session.Session, ref string, m *fleet.ModelTarget) (string, error) {
	h := sha256.New()
	var err error
	if m.TransferID != "" {
		err = d.fetchMQTT(ctx, s, ref, m, h)
	} else if m.URL != "" {
		err = d.fetchHTTP(ctx, m.URL, h)
	} else {
		err = errors.New("期望状态既无 transfer_id 也无 url / the desired state names neither transfer_id nor url")
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (d *device) fetchMQTT(ctx context.Context, s *session.Session, ref string, m *fleet.ModelTarget, h hash.Hash) error {
	next, total := 0, -1
	var done int64
	pending := map[int][]byte{}
	lastPct := -10.0
	cut := d.faults[CutTransfer]
	for total < 0 || next < total {
		win := d.sim.cfg.Window
		if total > 0 {
			win = min(win, total-next)
		}
		if d.faults[SlowTransfer] && !sleep(ctx, d.sim.cfg.SlowDelay) {
			return ctx.Err()
		}
		reconnected := s.NextConnect()
		req := &fleet.TransferRequest{Header: fleet.Header{ID: d.nextID("t")}, TransferID: m.TransferID, FromChunk: next, Window: win}
		if err := s.Send(req); err != nil {
			return err
		}
		end := next + win
		timer := time.NewTimer(d.sim.cfg.ChunkTimeout)
	window:
		for next < end {
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-reconnected:
				break window
			case <-timer.C:
				d.sim.stats.stalls.Add(1)
				break window
			case c := <-s.Chunks():
				if c.TransferID != m.TransferID || c.Index < next {
					continue
				}
				total = c.Total
				end = min(end, total)
				pending[c.Index] = c.Data
				for data, ok := pending[next]; ok; data, ok = pending[next] {
					h.Write(data)
					done += int64(len(data))
					delete(pending, next)
					next++
				}
				timer.Reset(d.sim.cfg.ChunkTimeout)
			}
		}
		timer.Stop()
		if pct := 100 * float64(done) / float64(max(m.Size, 1)); pct-lastPct >= 25 {
			lastPct = pct
			d.event(fleet.EventProgress, ref, "transferring "+strconv.FormatInt(done, 10)+" B", pct, "")
		}
		if cut && total > 0 && next >= total/2 { // drop the connection once; the session reconnects
			cut = false
			d.sim.stats.cuts.Add(1)
			s.Close(0)
			d.open()
			s = d.session()
			select {
			case <-s.Subscribed():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if done != m.Size {
		return fmt.Errorf("收到 %d 字节，应为 %d / got %d bytes, want %d", done, m.Size, done, m.Size)
	}
	return nil
}

func (d *device) fetchHTTP(ctx context.Context, url string, h hash.Hash) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.sim.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(h, resp.Body)
	return err
}

func (d *device) report(st fleet.State) {
	s := d.session()
	if s == nil {
		return
	}
	d.mu.Lock()
	rep := &fleet.Reported{Header: fleet.Header{ID: d.nextID("r")}, Protocol: fleet.ProtocolVersion,
		AgentVersion: d.sim.cfg.AgentVersion, OS: "linux", Arch: "amd64", State: st,
		PreviousModel: d.prev, LastError: d.lastErr, AppliedDesiredID: d.applied, Time: time.Now().UTC(), CPUs: 1}
	if st == fleet.StateServing {
		rep.Model = d.current
	}
	d.state = st
	d.mu.Unlock()
	if err := s.Send(rep); err != nil {
		d.log.Warn("report", zap.Error(err))
	}
	d.sim.stats.sent.Add(1)
}

func (d *device) event(kind fleet.EventKind, ref, stage string, pct float64, msg string) {
	s := d.session()
	if s == nil {
		return
	}
	e := &fleet.Event{Header: fleet.Header{ID: d.nextID("e")}, Kind: kind, Ref: ref, Stage: stage, Percent: pct,
		Message: msg, Time: time.Now().UTC()}
	if err := s.Send(e); err != nil {
		d.log.Warn("event", zap.Error(err))
	}
	d.sim.stats.sent.Add(1)
}

func (d *device) flood(ctx context.Context) {
	t := time.NewTicker(d.sim.cfg.FloodEvery)
	defer t.Stop()
	var n int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := d.session(); s != nil && s.Connected() {
			n++
			_ = s.Send(&fleet.Telemetry{Header: fleet.Header{ID: d.nextID("tm")}, UptimeSeconds: n, Requests: n, Time: time.Now().UTC()})
			d.sim.stats.sent.Add(1)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
