package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/autocv/autocv/protocol/fleet"
)

const device = "dev-1"

// startBroker runs an embedded broker on loopback with an inline client.
func startBroker(t *testing.T) (*mqtt.Server, string) {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_ = srv.AddHook(new(auth.AllowHook), nil)
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, "tcp://" + tcp.Address()
}

// received collects what the inline client gets on one topic.
type received struct {
	mu   sync.Mutex
	msgs []packets.Packet
}

func (r *received) add(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, pk)
}

func (r *received) wait(t *testing.T, ok func(pk packets.Packet) bool) packets.Packet {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		for _, pk := range r.msgs {
			if ok(pk) {
				r.mu.Unlock()
				return pk
			}
		}
		r.mu.Unlock()
	}
	t.Fatal("message not received")
	return packets.Packet{}
}

func topic(k fleet.Kind) string { s, _ := fleet.Topic(device, k); return s }

func publish(t *testing.T, srv *mqtt.Server, k fleet.Kind, m fleet.Message, retain bool) {
	t.Helper()
	b, err := fleet.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Publish(topic(k), b, retain, fleet.QoS); err != nil {
		t.Fatal(err)
	}
}

func TestSession(t *testing.T) {
	srv, url := startBroker(t)
	var reported received
	if err := srv.Subscribe(topic(fleet.KindReported), 1, reported.add); err != nil {
		t.Fatal(err)
	}
	will := &fleet.Reported{Header: fleet.Header{ID: "will"}, Protocol: 1, AgentVersion: "1.0", OS: "linux", Arch: "amd64", State: fleet.StateOffline}
	s, err := Open(Config{DeviceID: device, Broker: fleet.MQTTCredentials{URL: url, Username: device, Password: "pw"}, Will: will})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(0)
	// (the connection may well be up before this line runs: Subscribed
	// still says so, where NextConnect would wait for a reconnection)
	select {
	case <-s.Subscribed():
	case <-time.After(30 * time.Second): // a hang guard, not a speed bar
		t.Fatal("no connection")
	}

	// The first desired state arrives. (Around the moment of subscribing a
	// broker may send the retained copy of a state after live newer ones:
	// fleet.Desired carries no revision to tell them apart yet.)
	read := func(want string) {
		t.Helper()
		for {
			select {
			case d := <-s.Desired():
				if d.ID == want {
					return
				}
			case <-time.After(30 * time.Second): // a hang guard, not a speed bar
				t.Fatalf("desired state %s not received", want)
			}
		}
	}
	publish(t, srv, fleet.KindDesired, &fleet.Desired{Header: fleet.Header{ID: "d1"}}, true)
	read("d1")
	// a retained copy of d1 may follow its live one: ids are idempotency
	// keys, so a repeat is harmless; let it pass before the next states
	for quiet := time.After(300 * time.Millisecond); ; {
		select {
		case d := <-s.Desired():
			if d.ID != "d1" {
				t.Fatalf("desired %s, only d1 was sent", d.ID)
			}
			continue
		case <-quiet:
		}
		break
	}
	// The latest desired state wins: what is read never goes back to an
	// older one, and ends with the latest.
	for _, id := range []string{"d2", "d3", "d4"} {
		publish(t, srv, fleet.KindDesired, &fleet.Desired{Header: fleet.Header{ID: id}}, true)
	}
	time.Sleep(100 * time.Millisecond) // usually all three are in: one read gives d4
	for last := "d1"; last != "d4"; {
		select {
		case d := <-s.Desired():
			if d.ID < last {
				t.Fatalf("desired %s after %s, want never an older one", d.ID, last)
			}
			last = d.ID
		case <-time.After(30 * time.Second):
			t.Fatalf("no desired state after %q", last)
		}
	}
	select {
	case d := <-s.Desired():
		t.Errorf("desired %s after the latest, d4", d.ID)
	case <-time.After(100 * time.Millisecond):
	}

	// Chunks arrive; one whose data does not match its sha256 does not.
	bad := fleet.NewChunk("t", 0, 2, []byte("good data"))
	b, _ := fleet.Encode(bad)
	b = []byte(string(b[:len(b)-3]) + `A"}`) // changes the data, not the sha256
	_ = srv.Publish(topic(fleet.KindTransferChunks), b, false, fleet.QoS)
	publish(t, srv, fleet.KindTransferChunks, fleet.NewChunk("t", 1, 2, []byte("more")), false)
	select {
	case c := <-s.Chunks():
		if c.Index != 1 {
			t.Errorf("got chunk %d, want only the good chunk 1", c.Index)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no chunk")
	}

	// Reported goes out retained; the agent may not publish desired.
	rep := *will
	rep.ID, rep.State = "r1", fleet.StateIdle
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Publish(ctx, &rep); err != nil {
		t.Fatal(err)
	}
	if pk := reported.wait(t, func(pk packets.Packet) bool { return string(pk.Payload) != "" }); !pk.FixedHeader.Retain {
		t.Error("reported state not retained")
	}
	if err := s.Send(&fleet.Desired{Header: fleet.Header{ID: "x"}}); err == nil {
		t.Error("the agent sent a desired state")
	}

	// A connection that dies fires the last will.
	cl, ok := srv.Clients.Get(device)
	if !ok {
		t.Fatal("client not known to the broker")
	}
	cl.Stop(errors.New("cable pulled"))
	reported.wait(t, func(pk packets.Packet) bool {
		r, err := fleet.DecodeReported(pk.Payload)
		return err == nil && r.State == fleet.StateOffline
	})
}
