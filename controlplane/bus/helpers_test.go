package bus

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/protocol/fleet"
)

// The devices the tests use, with their passwords.
var testDevices = map[string]string{"dev-a": "pw-a-0123456789", "dev-b": "pw-b-0123456789"}

// startEmbedded starts the embedded broker on a free loopback port and
// returns it with the internal password.
func startEmbedded(t *testing.T) (*Broker, string) {
	t.Helper()
	pw, err := RandomPassword()
	if err != nil {
		t.Fatal(err)
	}
	b, err := StartBroker(BrokerConfig{
		Addr:             "127.0.0.1:0",
		DeviceLogin:      func(u, p string) bool { want, ok := testDevices[u]; return ok && p == want },
		InternalPassword: pw,
		Log:              zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, pw
}

// recorder collects what a Bus hands on.
type recorder struct {
	mu       sync.Mutex
	reported map[string][]*fleet.Reported
	events   map[string][]*fleet.Event
	telem    map[string][]*fleet.Telemetry
	lookups  int
	opened   int // sources handed out
	closed   int // sources the Bus closed
}

func newRecorder() *recorder {
	return &recorder{reported: map[string][]*fleet.Reported{}, events: map[string][]*fleet.Event{},
		telem: map[string][]*fleet.Telemetry{}}
}

// memSource is a Source in memory that records being closed.
type memSource struct {
	data []byte
	rec  *recorder
}

func (s memSource) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.data)) {
		return 0, fmt.Errorf("offset %d past the end", off)
	}
	n := copy(p, s.data[off:])
	if n < len(p) {
		return n, fmt.Errorf("short read")
	}
	return n, nil
}
func (s memSource) Size() int64 { return int64(len(s.data)) }
func (s memSource) Close() error {
	s.rec.mu.Lock()
	s.rec.closed++
	s.rec.mu.Unlock()
	return nil
}

// busFor connects a Bus as one replica, serving files (transfer id →
// content) to dev-a only, and recording into rec.
func busFor(t *testing.T, url, user, pw, clientID string, files map[string][]byte, rec *recorder) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Connect(ctx, Config{
		URL: url, Username: user, Password: pw, ClientID: clientID,
		Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).With(zap.String("replica", clientID)),
		Transfer: func(_ context.Context, deviceID, transferID string) (Source, error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.lookups++
			data, ok := files[transferID]
			if !ok || deviceID != "dev-a" {
				return nil, fmt.Errorf("no transfer %q for %s", transferID, deviceID)
			}
			rec.opened++
			return memSource{data: data, rec: rec}, nil
		},
		OnReported: func(id string, r *fleet.Reported, raw []byte) {
			if len(raw) == 0 {
				t.Errorf("OnReported got no raw payload")
			}
			rec.mu.Lock()
			rec.reported[id] = append(rec.reported[id], r)
			rec.mu.Unlock()
		},
		OnEvent: func(id string, e *fleet.Event) {
			rec.mu.Lock()
			rec.events[id] = append(rec.events[id], e)
			rec.mu.Unlock()
		},
		OnTelemetry: func(id string, m *fleet.Telemetry) {
			rec.mu.Lock()
			rec.telem[id] = append(rec.telem[id], m)
			rec.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("connect bus %s to %s: %v", clientID, url, err)
	}
	t.Cleanup(b.Close)
	return b
}

// device is a paho client playing an agent.
type device struct {
	c    paho.Client
	msgs chan paho.Message
}

// connectDevice connects as id with pw; opt may adjust the options.
func connectDevice(url, clientID, user, pw string, opt func(*paho.ClientOptions)) (*device, error) {
	d := &device{msgs: make(chan paho.Message, 256)}
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pw).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { d.msgs <- m })
	if opt != nil {
		opt(o)
	}
	d.c = paho.NewClient(o)
	t := d.c.Connect()
	if !t.WaitTimeout(6 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := t.Error(); err != nil {
		return nil, err
	}
	return d, nil
}

func mustDevice(t *testing.T, url, id string) *device {
	t.Helper()
	d, err := connectDevice(url, id, id, testDevices[id], nil)
	if err != nil {
		t.Fatalf("device %s: connect: %v", id, err)
	}
	t.Cleanup(func() { d.c.Disconnect(0) })
	return d
}

// subscribe returns the broker's SUBACK code for one filter.
func (d *device) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	tok := d.c.Subscribe(filter, fleet.QoS, nil)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (d *device) publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	tok := d.c.Publish(topic, fleet.QoS, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v (timed out: %v)", topic, tok.Error(), !tok.WaitTimeout(0))
	}
}

// next waits for a message on topic, skipping none: any other message
// first is an error.
func (d *device) next(t *testing.T, within time.Duration) paho.Message {
	t.Helper()
	select {
	case m := <-d.msgs:
		return m
	case <-time.After(within):
		t.Fatalf("no message within %s", within)
		return nil
	}
}

// quiet checks that no message arrives within the wait.
func (d *device) quiet(t *testing.T, wait time.Duration, why string) {
	t.Helper()
	select {
	case m := <-d.msgs:
		t.Fatalf("%s: got a message on %s: %.200s", why, m.Topic(), m.Payload())
	case <-time.After(wait):
	}
}

func topic(t *testing.T, id string, k fleet.Kind) string {
	t.Helper()
	s, err := fleet.Topic(id, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encode(t *testing.T, m fleet.Message) []byte {
	t.Helper()
	b, err := fleet.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within %s: %s", within, what)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// tool finds a Mosquitto binary; missing fails under CI=true and skips
// otherwise.
func tool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/" + name, "/usr/bin/" + name} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found (Debian packages mosquitto, mosquitto-clients)", name)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
