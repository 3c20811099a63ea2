package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/autocv/autocv/protocol/fleet"
)

// These checks run against any broker: the embedded one and a real
// Mosquitto configured with MosquittoACL (mosquitto_test.go).

// checkIsolation checks that devices touch only their own topics, that
// the Bus hands on what devices send under the id from the topic, and
// that PublishDesired reaches the device. subackRefuses says whether the
// broker refuses a forbidden subscription (0x80 in the SUBACK); Mosquitto's
// acl_file grants every subscription and checks each delivery instead.
func checkIsolation(t *testing.T, url, cpUser, cpPass string, subackRefuses bool) {
	rec := newRecorder()
	bus := busFor(t, url, cpUser, cpPass, "cp-iso", nil, rec)
	a, b := mustDevice(t, url, "dev-a"), mustDevice(t, url, "dev-b")

	for _, tc := range []struct {
		who    *device
		filter string
		ok     bool
	}{
		{a, topic(t, "dev-a", fleet.KindDesired), true},
		{a, topic(t, "dev-a", fleet.KindTransferChunks), true},
		{a, topic(t, "dev-b", fleet.KindDesired), false},
		{a, topic(t, "dev-b", fleet.KindTransferChunks), false},
		{a, fleet.Root + "devices/+/desired", false},
		{a, fleet.Root + "#", false},
		{a, topic(t, "dev-a", fleet.KindReported), false}, // wrong direction
		{a, topic(t, "dev-b", fleet.KindReported), false},
		{b, topic(t, "dev-b", fleet.KindDesired), true},
	} {
		code := tc.who.subscribe(t, tc.filter)
		if tc.ok && code != fleet.QoS {
			t.Errorf("subscribe %s: code %#x, want granted QoS %d", tc.filter, code, fleet.QoS)
		}
		if !tc.ok && subackRefuses && code != 0x80 {
			t.Errorf("subscribe %s: code %#x, want failure 0x80", tc.filter, code)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	desired := func(id string) *fleet.Desired {
		return &fleet.Desired{Header: fleet.Header{ID: id}, Model: &fleet.ModelTarget{
			ID: "m1", Version: 3, SHA256: strings.Repeat("ab", 32), Size: 10, TransferID: "t1"}}
	}
	if err := bus.PublishDesired(ctx, "dev-a", desired("d-a")); err != nil {
		t.Fatal(err)
	}
	m := a.next(t, 3*time.Second)
	if d, err := fleet.DecodeDesired(m.Payload()); err != nil || m.Topic() != topic(t, "dev-a", fleet.KindDesired) || d.ID != "d-a" {
		t.Fatalf("dev-a got %s %s (%v), want its desired d-a", m.Topic(), m.Payload(), err)
	}
	if err := bus.PublishDesired(ctx, "dev-b", desired("d-b")); err != nil {
		t.Fatal(err)
	}
	if m := b.next(t, 3*time.Second); !bytes.Contains(m.Payload(), []byte(`"d-b"`)) {
		t.Fatalf("dev-b got %s, want d-b", m.Payload())
	}
	if err := bus.PublishDesired(ctx, "dev/x", desired("d-x")); err == nil {
		t.Error("PublishDesired accepted the device id dev/x")
	}

	// dev-a forges dev-b's desired state and reported state, and its own
	// desired state: dropped.
	a.publish(t, topic(t, "dev-b", fleet.KindDesired), encode(t, desired("forged")))
	a.publish(t, topic(t, "dev-a", fleet.KindDesired), encode(t, desired("forged")))
	a.publish(t, topic(t, "dev-b", fleet.KindReported), encode(t, &fleet.Reported{Header: fleet.Header{ID: "r-forged"},
		Protocol: 2, AgentVersion: "1.0.0", OS: "linux", Arch: "amd64", State: fleet.StateFailed}))
	// dev-a's own messages, a malformed one among them, arrive under its id
	a.publish(t, topic(t, "dev-a", fleet.KindEvents), []byte(`{"schema":1,"id":"e0","kind":"no-such-kind"}`))
	a.publish(t, topic(t, "dev-a", fleet.KindEvents), []byte(`not json`))
	a.publish(t, topic(t, "dev-a", fleet.KindReported), encode(t, &fleet.Reported{Header: fleet.Header{ID: "r1"},
		Protocol: 2, AgentVersion: "1.0.0", OS: "linux", Arch: "amd64", State: fleet.StateServing}))
	a.publish(t, topic(t, "dev-a", fleet.KindTelemetry), encode(t, &fleet.Telemetry{Header: fleet.Header{ID: "t1"}, Requests: 7}))
	a.publish(t, topic(t, "dev-a", fleet.KindEvents), encode(t, &fleet.Event{Header: fleet.Header{ID: "e1"},
		Kind: fleet.EventAck, Ref: "d-a"}))
	waitFor(t, 3*time.Second, "dev-a's event e1 reaches the bus", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.events["dev-a"]) > 0
	})
	// QoS 1 may deliver dev-b's own d-b again; anything else is a leak.
	deadline := time.After(300 * time.Millisecond)
	for quiet := false; !quiet; {
		select {
		case m := <-b.msgs:
			if !bytes.Contains(m.Payload(), []byte(`"d-b"`)) {
				t.Fatalf("dev-b must not get dev-a's forged desired state: got a message on %s: %.200s", m.Topic(), m.Payload())
			}
		case <-deadline:
			quiet = true
		}
	}
	// whatever dev-a subscribed to, it got only its own desired state d-a
	// (with overlapping subscriptions Mosquitto delivers it several times),
	// not its own forgery nor the messages it sent
	for len(a.msgs) > 0 {
		if m := <-a.msgs; m.Topic() != topic(t, "dev-a", fleet.KindDesired) || !bytes.Contains(m.Payload(), []byte(`"d-a"`)) {
			t.Errorf("dev-a got a message on %s: %.100s", m.Topic(), m.Payload())
		}
	}
	rec.mu.Lock()
	if len(rec.reported["dev-b"]) != 0 {
		t.Errorf("the bus got dev-a's forged reported state as dev-b's: %+v", rec.reported["dev-b"][0])
	}
	if r := rec.reported["dev-a"]; len(r) != 1 || r[0].ID != "r1" || r[0].State != fleet.StateServing {
		t.Errorf("dev-a's reported states: %+v, want r1 serving", r)
	}
	if e := rec.events["dev-a"]; len(e) != 1 || e[0].ID != "e1" {
		t.Errorf("dev-a's events: %+v, want only e1 (the malformed ones dropped)", e)
	}
	if tm := rec.telem["dev-a"]; len(tm) != 1 || tm[0].Requests != 7 {
		t.Errorf("dev-a's telemetry: %+v, want one sample with 7 requests", tm)
	}
	rec.mu.Unlock()
	if !a.c.IsConnectionOpen() {
		t.Error("dev-a was disconnected; forbidden publishes must only be dropped")
	}

	// a late subscriber gets the retained desired state, still d-b
	b2, err := connectDevice(url, "dev-b", "dev-b", testDevices["dev-b"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.c.Disconnect(0)
	b2.subscribe(t, topic(t, "dev-b", fleet.KindDesired))
	if m := b2.next(t, 3*time.Second); !bytes.Contains(m.Payload(), []byte(`"d-b"`)) || !m.Retained() {
		t.Errorf("dev-b's retained desired is %s (retained %v), want d-b", m.Payload(), m.Retained())
	}

	// clearing removes the retained state: the subscriber gets an empty
	// message, and a later one nothing
	if err := bus.ClearDesired(ctx, "dev-b"); err != nil {
		t.Fatal(err)
	}
	if m := b2.next(t, 3*time.Second); len(m.Payload()) != 0 {
		t.Errorf("after ClearDesired dev-b got %q, want an empty message", m.Payload())
	}
	b3, err := connectDevice(url, "dev-b", "dev-b", testDevices["dev-b"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b3.c.Disconnect(0)
	b3.subscribe(t, topic(t, "dev-b", fleet.KindDesired))
	b3.quiet(t, 200*time.Millisecond, "no retained desired state after ClearDesired")

	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "dev-a", "wrong-password"},
		{"unknown device", "dev-zzz", "pw-a-0123456789"},
		{"anonymous", "", ""},
		{"control plane with a wrong password", cpUser, cpPass + "x"},
	} {
		if d, err := connectDevice(url, "probe-"+strings.ReplaceAll(tc.name, " ", "-"), tc.user, tc.pass, nil); err == nil {
			d.c.Disconnect(0)
			t.Errorf("%s: connected, want refused", tc.name)
		}
	}
}

// chunkCounter subscribes a device to its chunks and keeps them.
type chunkCounter struct {
	mu     sync.Mutex
	chunks []*fleet.TransferChunk
	bad    []string
}

func watchChunks(t *testing.T, d *device, id string) *chunkCounter {
	t.Helper()
	c := &chunkCounter{}
	f := topic(t, id, fleet.KindTransferChunks)
	tok := d.c.Subscribe(f, fleet.QoS, func(_ paho.Client, m paho.Message) {
		ch, err := fleet.DecodeTransferChunk(m.Payload())
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.bad = append(c.bad, err.Error())
			return
		}
		c.chunks = append(c.chunks, ch)
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil || tok.(*paho.SubscribeToken).Result()[f] != fleet.QoS {
		t.Fatalf("subscribe %s: %v", f, tok.Error())
	}
	return c
}

func (c *chunkCounter) take() []*fleet.TransferChunk {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.chunks
	c.chunks = nil
	return out
}

func (c *chunkCounter) waitN(t *testing.T, n int, within time.Duration) []*fleet.TransferChunk {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("%d chunks", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.chunks) >= n
	})
	return c.take()
}

func request(t *testing.T, d *device, id, transfer string, from, window int) {
	t.Helper()
	d.publish(t, topic(t, id, fleet.KindTransferRequest), encode(t, &fleet.TransferRequest{
		Header: fleet.Header{ID: fmt.Sprintf("%s.%d.%d", transfer, from, window)}, TransferID: transfer, FromChunk: from, Window: window}))
}

// checkTransfer checks that transfer requests are answered with the right
// chunks, exactly once with two replicas, and not at all for an unknown
// transfer or another device's.
func checkTransfer(t *testing.T, url string, cps [2][2]string) {
	file := randomBytes(t, 1_300_000)
	files := map[string][]byte{"pkg-1": file}
	rec1, rec2 := newRecorder(), newRecorder()
	busFor(t, url, cps[0][0], cps[0][1], "cp-1", files, rec1)
	a := mustDevice(t, url, "dev-a")
	chunks := watchChunks(t, a, "dev-a")
	total := fleet.ChunkCount(int64(len(file)), fleet.DefaultChunkSize)
	if total != 5 {
		t.Fatalf("a 1.3 MB file is %d chunks, want 5", total)
	}

	// the whole file in one window larger than needed
	request(t, a, "dev-a", "pkg-1", 0, fleet.MaxWindow)
	got := chunks.waitN(t, total, 10*time.Second)
	var whole bytes.Buffer
	for i, c := range got {
		if c.Index != i || c.Total != total || c.TransferID != "pkg-1" || c.ID != fmt.Sprintf("pkg-1.%d", i) {
			t.Fatalf("chunk %d: index %d total %d transfer %s id %s", i, c.Index, c.Total, c.TransferID, c.ID)
		}
		if sum := sha256.Sum256(c.Data); hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Fatalf("chunk %d: sha256 mismatch", i)
		}
		if i < total-1 && len(c.Data) != fleet.DefaultChunkSize {
			t.Fatalf("chunk %d has %d bytes, want %d", i, len(c.Data), fleet.DefaultChunkSize)
		}
		whole.Write(c.Data)
	}
	if !bytes.Equal(whole.Bytes(), file) {
		t.Fatalf("reassembled %d bytes differ from the %d-byte source", whole.Len(), len(file))
	}

	// a window in the middle; one past the end; an unknown transfer; a
	// transfer that exists but not for dev-b
	request(t, a, "dev-a", "pkg-1", 2, 2)
	if got := chunks.waitN(t, 2, 5*time.Second); got[0].Index != 2 || got[1].Index != 3 {
		t.Fatalf("window 2..3 answered with chunks %d, %d", got[0].Index, got[1].Index)
	}
	request(t, a, "dev-a", "pkg-1", total, 4)
	request(t, a, "dev-a", "no-such-transfer", 0, 4)
	b := mustDevice(t, url, "dev-b")
	bChunks := watchChunks(t, b, "dev-b")
	request(t, b, "dev-b", "pkg-1", 0, 4)
	// a known request after them; the others had 200 ms more to show up
	request(t, a, "dev-a", "pkg-1", 4, 1)
	if got := chunks.waitN(t, 1, 5*time.Second); got[0].Index != 4 {
		t.Fatalf("chunk 4 request answered with chunk %d", got[0].Index)
	}
	time.Sleep(200 * time.Millisecond)
	if extra := chunks.take(); len(extra) != 0 {
		t.Fatalf("got %d chunks for requests past the end or for an unknown transfer", len(extra))
	}
	if got := bChunks.take(); len(got) != 0 {
		t.Fatalf("dev-b got %d chunks of a transfer it may not have", len(got))
	}

	// a second replica: each request is answered by exactly one
	bus2 := busFor(t, url, cps[1][0], cps[1][1], "cp-2", files, rec2)
	const requests = 12
	for i := range requests {
		request(t, a, "dev-a", "pkg-1", i%total, 1)
	}
	got = chunks.waitN(t, requests, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if extra := chunks.take(); len(extra) != 0 {
		t.Fatalf("%d requests answered with %d chunks, want one each", requests, len(got)+len(extra))
	}
	rec1.mu.Lock()
	rec2.mu.Lock()
	t.Logf("lookups: replica 1 %d (before the second joined: 6), replica 2 %d", rec1.lookups, rec2.lookups)
	if n := rec1.lookups + rec2.lookups; n != 6+requests {
		t.Errorf("the replicas looked up %d transfers, want %d: some request reached both", n, 6+requests)
	}
	for _, r := range []*recorder{rec1, rec2} {
		if r.opened != r.closed {
			t.Errorf("a replica opened %d sources and closed %d", r.opened, r.closed)
		}
	}
	rec2.mu.Unlock()
	rec1.mu.Unlock()

	// the second replica shuts down: the first answers every request
	bus2.Close()
	for i := range total {
		request(t, a, "dev-a", "pkg-1", i, 1)
	}
	if got := chunks.waitN(t, total, 5*time.Second); len(got) != total {
		t.Fatalf("after one replica left, %d requests were answered with %d chunks", total, len(got))
	}
	if len(chunks.bad) != 0 {
		t.Errorf("malformed chunks: %v", chunks.bad)
	}
}
