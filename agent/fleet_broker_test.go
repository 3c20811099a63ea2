//go:build unix

package agent_test

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/autocv/autocv/protocol/fleet"
)

// broker is an embedded mochi MQTT broker on loopback, standing in for the
// control plane's until it exists. It checks each device's credentials and
// lets it touch only its own topics (fleet.Allowed), as the real one will.
// It can be stopped and started again on the same port; like a broker
// without persistence, it forgets sessions and retained messages.
type broker struct {
	t       *testing.T
	creds   map[string]string // username (= device id) → password
	addr    string
	mu      sync.Mutex
	srv     *mqtt.Server
	onStart []func(*mqtt.Server) // run after each start (subscriptions)
}

func startBroker(t *testing.T, creds map[string]string) *broker {
	b := &broker{t: t, creds: creds}
	b.start("127.0.0.1:0")
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start(addr string) {
	b.t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(&deviceAuth{creds: b.creds}, nil); err != nil {
		b.t.Fatal(err)
	}
	tcp := &tcpListener{addr: addr}
	var err error
	for try := 0; try < 50; try++ { // the old socket may linger a moment
		if err = srv.AddListener(tcp); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("broker listen on %s: %v", addr, err)
	}
	if err := srv.Serve(); err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.srv, b.addr = srv, tcp.Address()
	hooks := append([]func(*mqtt.Server){}, b.onStart...)
	b.mu.Unlock()
	for _, h := range hooks {
		h(srv)
	}
}

func (b *broker) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// restart stops the broker and starts a fresh one on the same port.
func (b *broker) restart() {
	b.stop()
	b.start(b.addr)
}

func (b *broker) url() string { return "tcp://" + b.addr }

// publish publishes from the inline client; it fails while stopped.
func (b *broker) publish(topic string, payload []byte, retain bool) error {
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv == nil {
		return io.ErrClosedPipe
	}
	return srv.Publish(topic, payload, retain, fleet.QoS)
}

// tcpListener is mochi's TCP listener, except that Close stops accepting
// before it drops the clients, as a dying broker process does; otherwise a
// client reconnecting at once reaches a listener nobody serves and waits
// out its connect timeout.
type tcpListener struct {
	addr string
	ln   net.Listener
	once sync.Once
}

func (l *tcpListener) Init(*slog.Logger) (err error) {
	l.ln, err = net.Listen("tcp", l.addr)
	return err
}

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		go func() { _ = establish("tcp", conn) }()
	}
}

func (l *tcpListener) ID() string       { return "tcp" }
func (l *tcpListener) Protocol() string { return "tcp" }

func (l *tcpListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		_ = l.ln.Close()
		closeClients("tcp")
	})
}

// deviceAuth is the embedded broker's auth hook: credentials per device
// and the fleet ACL.
type deviceAuth struct {
	mqtt.HookBase
	creds map[string]string
}

func (h *deviceAuth) ID() string { return "autocv-device-auth" }

func (h *deviceAuth) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *deviceAuth) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	pw, ok := h.creds[user]
	return ok && pw == string(pk.Connect.Password) && string(pk.Connect.ClientIdentifier) == user
}

func (h *deviceAuth) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return cl.Net.Inline || fleet.Allowed(string(cl.Properties.Username), topic, write)
}
