//go:build unix

package agent_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/autocv/autocv/protocol/fleet"
)

// controlPlane plays the control plane's fleet side for one device, with
// the broker's inline client: it publishes desired states, answers
// transfer requests with chunks of the packages it was given, and records
// what the agent reports.
type controlPlane struct {
	t      *testing.T
	b      *broker
	device string
	reqs   chan fleet.TransferRequest // to the answering goroutine

	mu       sync.Mutex
	files    map[string][]byte // transfer id → package
	desired  []byte            // last desired, republished after a broker restart
	reported *fleet.Reported
	history  []fleet.State // every reported state, in order
	events   []*fleet.Event
	telem    []*fleet.Telemetry
	requests []fleet.TransferRequest
	sent     map[string]int // "<transfer>.<index>" → times sent
	// tamper corrupts a chunk's sha256 on its sent-th sending.
	tamper func(transferID string, index, sent int) bool
	// holdAt, when it returns n >= 0 for a transfer, withholds its chunks
	// from index n on.
	holdAt func(transferID string) int
}

func newControlPlane(t *testing.T, b *broker, device string) *controlPlane {
	cp := &controlPlane{t: t, b: b, device: device, reqs: make(chan fleet.TransferRequest, 256),
		files: map[string][]byte{}, sent: map[string]int{}}
	b.mu.Lock()
	b.onStart = append(b.onStart, cp.attach)
	srv := b.srv
	b.mu.Unlock()
	cp.attach(srv)
	done := make(chan struct{})
	go func() { // owned by the test: ends when reqs is closed
		defer close(done)
		for r := range cp.reqs {
			cp.answer(r)
		}
	}()
	t.Cleanup(func() { close(cp.reqs); <-done })
	return cp
}

// attach subscribes to the device's topics on a (re)started broker and
// republishes the retained desired state, as a control plane that keeps
// it in its database would.
func (cp *controlPlane) attach(srv *mqtt.Server) {
	topic := func(k fleet.Kind) string { s, _ := fleet.Topic(cp.device, k); return s }
	must := func(err error) {
		if err != nil {
			cp.t.Error(err)
		}
	}
	must(srv.Subscribe(topic(fleet.KindTransferRequest), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		r, err := fleet.DecodeTransferRequest(pk.Payload)
		if err != nil {
			cp.t.Errorf("bad transfer request: %v", err)
			return
		}
		cp.mu.Lock()
		cp.requests = append(cp.requests, *r)
		cp.mu.Unlock()
		cp.reqs <- *r
	}))
	must(srv.Subscribe(topic(fleet.KindReported), 2, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		r, err := fleet.DecodeReported(pk.Payload)
		if err != nil {
			cp.t.Errorf("bad reported state: %v", err)
			return
		}
		cp.mu.Lock()
		cp.reported = r
		cp.history = append(cp.history, r.State)
		cp.mu.Unlock()
	}))
	must(srv.Subscribe(topic(fleet.KindEvents), 3, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		e, err := fleet.DecodeEvent(pk.Payload)
		if err != nil {
			cp.t.Errorf("bad event: %v", err)
			return
		}
		cp.mu.Lock()
		cp.events = append(cp.events, e)
		cp.mu.Unlock()
	}))
	must(srv.Subscribe(topic(fleet.KindTelemetry), 4, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		m, err := fleet.DecodeTelemetry(pk.Payload)
		if err != nil {
			cp.t.Errorf("bad telemetry: %v", err)
			return
		}
		cp.mu.Lock()
		cp.telem = append(cp.telem, m)
		cp.mu.Unlock()
	}))
	cp.mu.Lock()
	d := cp.desired
	cp.mu.Unlock()
	if d != nil {
		must(srv.Publish(topic(fleet.KindDesired), d, true, fleet.QoS))
	}
}

// answer sends the chunks a request asks for.
func (cp *controlPlane) answer(r fleet.TransferRequest) {
	cp.mu.Lock()
	data, ok := cp.files[r.TransferID]
	end := r.FromChunk + r.Window
	if cp.holdAt != nil {
		if n := cp.holdAt(r.TransferID); n >= 0 {
			end = min(end, n)
		}
	}
	cp.mu.Unlock()
	if !ok {
		return
	}
	topic, _ := fleet.Topic(cp.device, fleet.KindTransferChunks)
	total := fleet.ChunkCount(int64(len(data)), fleet.DefaultChunkSize)
	for i := r.FromChunk; i < min(end, total); i++ {
		end := min((i+1)*fleet.DefaultChunkSize, len(data))
		payload, err := fleet.Encode(fleet.NewChunk(r.TransferID, i, total, data[i*fleet.DefaultChunkSize:end]))
		if err != nil {
			cp.t.Error(err)
			return
		}
		key := r.TransferID + "." + strconv.Itoa(i)
		cp.mu.Lock()
		n := cp.sent[key]
		cp.sent[key]++
		tamper := cp.tamper != nil && cp.tamper(r.TransferID, i, n)
		cp.mu.Unlock()
		if tamper { // the data no longer matches the chunk's sha256
			payload = bytes.Replace(payload, []byte(`"data":"`), []byte(`"data":"AAAA`), 1)
		}
		_ = cp.b.publish(topic, payload, false) // lost while the broker is down; the agent asks again
	}
}

// deploy publishes a retained desired state naming pkg as the model,
// offered over MQTT as transfer tid.
func (cp *controlPlane) deploy(id, model string, version int, pkg []byte, tid string) {
	cp.t.Helper()
	sum := sha256.Sum256(pkg)
	d := &fleet.Desired{Header: fleet.Header{ID: id}, Model: &fleet.ModelTarget{
		ID: model, Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(pkg)), TransferID: tid}}
	payload, err := fleet.Encode(d)
	if err != nil {
		cp.t.Fatal(err)
	}
	cp.mu.Lock()
	cp.files[tid] = pkg
	cp.desired = payload
	cp.mu.Unlock()
	topic, _ := fleet.Topic(cp.device, fleet.KindDesired)
	if err := cp.b.publish(topic, payload, true); err != nil {
		cp.t.Fatal(err)
	}
}

// waitReported waits for a reported state that satisfies ok.
func (cp *controlPlane) waitReported(within time.Duration, what string, ok func(r *fleet.Reported) bool) *fleet.Reported {
	cp.t.Helper()
	var last *fleet.Reported
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		cp.mu.Lock()
		last = cp.reported
		cp.mu.Unlock()
		if last != nil && ok(last) {
			return last
		}
	}
	cp.t.Fatalf("no reported state with %s within %s; last: %+v", what, within, last)
	return nil
}

// waitEvent waits for an event about ref of one of the kinds.
func (cp *controlPlane) waitEvent(within time.Duration, ref string, kinds ...fleet.EventKind) *fleet.Event {
	cp.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		cp.mu.Lock()
		for _, e := range cp.events {
			for _, k := range kinds {
				if e.Ref == ref && e.Kind == k {
					cp.mu.Unlock()
					return e
				}
			}
		}
		cp.mu.Unlock()
	}
	cp.t.Fatalf("no %v event for %s within %s", kinds, ref, within)
	return nil
}

// requestsFor returns the transfer requests seen for tid.
func (cp *controlPlane) requestsFor(tid string) []fleet.TransferRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []fleet.TransferRequest
	for _, r := range cp.requests {
		if r.TransferID == tid {
			out = append(out, r)
		}
	}
	return out
}

func (cp *controlPlane) sentCount(tid string, index int) int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.sent[tid+"."+strconv.Itoa(index)]
}

func (cp *controlPlane) set(f func(cp *controlPlane)) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	f(cp)
}
