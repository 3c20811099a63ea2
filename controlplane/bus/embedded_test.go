package bus

import (
	"context"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/autocv/autocv/protocol/fleet"
)

func TestEmbeddedIsolation(t *testing.T) {
	b, pw := startEmbedded(t)
	checkIsolation(t, b.URL(), DefaultInternalUsername, pw, true)
}

func TestEmbeddedTransfer(t *testing.T) {
	b, pw := startEmbedded(t)
	cp := [2]string{DefaultInternalUsername, pw}
	checkTransfer(t, b.URL(), [2][2]string{cp, cp})
}

// TestEmbeddedLoginRules checks what only the embedded broker enforces:
// ClientID = device id, and a will only on the device's own topics.
func TestEmbeddedLoginRules(t *testing.T) {
	b, _ := startEmbedded(t)
	pw := testDevices["dev-a"]
	if d, err := connectDevice(b.URL(), "dev-b", "dev-a", pw, nil); err == nil {
		d.c.Disconnect(0)
		t.Error("dev-a logged in with ClientID dev-b")
	}
	if d, err := connectDevice(b.URL(), "dev-a", "dev-a", pw, func(o *paho.ClientOptions) {
		o.SetWill(topic(t, "dev-b", fleet.KindReported), "{}", fleet.QoS, true)
	}); err == nil {
		d.c.Disconnect(0)
		t.Error("dev-a logged in with a will on dev-b's reported topic")
	}
	d, err := connectDevice(b.URL(), "dev-a", "dev-a", pw, func(o *paho.ClientOptions) {
		o.SetWill(topic(t, "dev-a", fleet.KindReported), "{}", fleet.QoS, true)
	})
	if err != nil {
		t.Fatalf("dev-a with a will on its own reported topic: %v", err)
	}
	d.c.Disconnect(0)
}

func TestBrokerConfigErrors(t *testing.T) {
	login := func(string, string) bool { return true }
	for _, tc := range []struct {
		name string
		cfg  BrokerConfig
		want string
	}{
		{"no address", BrokerConfig{DeviceLogin: login, InternalPassword: strings.Repeat("x", 16)}, "listen address"},
		{"no login", BrokerConfig{Addr: "127.0.0.1:0", InternalPassword: strings.Repeat("x", 16)}, "DeviceLogin"},
		{"device-like internal user", BrokerConfig{Addr: "127.0.0.1:0", DeviceLogin: login,
			InternalUsername: "controlplane", InternalPassword: strings.Repeat("x", 16)}, "could be a device id"},
		{"short password", BrokerConfig{Addr: "127.0.0.1:0", DeviceLogin: login, InternalPassword: "short"}, "at least 16"},
		{"bad address", BrokerConfig{Addr: "127.0.0.1:99999", DeviceLogin: login, InternalPassword: strings.Repeat("x", 16)}, "listen on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := StartBroker(tc.cfg)
			if err == nil {
				b.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	b, pw := startEmbedded(t)
	onEvent := func(string, *fleet.Event) {}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad url", Config{URL: "127.0.0.1:1883", Username: "u", ClientID: "c", OnEvent: onEvent}, "want scheme://host:port"},
		{"bad scheme", Config{URL: "http://127.0.0.1:1883", Username: "u", ClientID: "c", OnEvent: onEvent}, "unknown scheme"},
		{"no client id", Config{URL: b.URL(), Username: "u", OnEvent: onEvent}, "ClientID"},
		{"no username", Config{URL: b.URL(), ClientID: "c", OnEvent: onEvent}, "anonymous"},
		{"huge chunks", Config{URL: b.URL(), Username: "u", ClientID: "c", OnEvent: onEvent, ChunkSize: fleet.MaxChunkSize + 1}, "chunk size"},
		{"nothing to do", Config{URL: b.URL(), Username: "u", ClientID: "c"}, "nothing to subscribe"},
		{"wrong password", Config{URL: b.URL(), Username: DefaultInternalUsername, Password: pw + "x", ClientID: "c", OnEvent: onEvent}, "connect to"},
		{"a device's credentials", Config{URL: b.URL(), Username: "dev-a", Password: testDevices["dev-a"], ClientID: "dev-a", OnEvent: onEvent}, "refused the subscription"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			bus, err := Connect(ctx, tc.cfg)
			if err == nil {
				bus.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestBusSurvivesBrokerRestart checks reconnect and re-subscribe: a
// broker restarted on the same port has lost every session.
func TestBusSurvivesBrokerRestart(t *testing.T) {
	pw, _ := RandomPassword()
	start := func(addr string) *Broker {
		var br *Broker
		var err error
		for range 50 { // the old socket may linger a moment
			br, err = StartBroker(BrokerConfig{Addr: addr, InternalPassword: pw,
				DeviceLogin: func(u, p string) bool { return testDevices[u] == p }})
			if err == nil {
				return br
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal(err)
		return nil
	}
	br := start("127.0.0.1:0")
	rec := newRecorder()
	bus := busFor(t, br.URL(), DefaultInternalUsername, pw, "cp-restart", nil, rec)
	br.Close()
	br = start(br.Addr())
	defer br.Close()

	a := mustDevice(t, br.URL(), "dev-a")
	waitFor(t, 15*time.Second, "the bus re-subscribes after the restart", func() bool {
		a.publish(t, topic(t, "dev-a", fleet.KindEvents), encode(t, &fleet.Event{Header: fleet.Header{ID: "e1"}, Kind: fleet.EventAck, Ref: "x"}))
		time.Sleep(100 * time.Millisecond)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.events["dev-a"]) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.PublishDesired(ctx, "dev-a", &fleet.Desired{Header: fleet.Header{ID: "d1"}}); err != nil {
		t.Fatal(err)
	}
	bus.Close()
	if err := bus.PublishDesired(ctx, "dev-a", &fleet.Desired{Header: fleet.Header{ID: "d2"}}); err != ErrClosed {
		t.Errorf("PublishDesired after Close: %v, want ErrClosed", err)
	}
}
