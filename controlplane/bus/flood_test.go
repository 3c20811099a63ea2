package bus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/autocv/autocv/protocol/fleet"
)

// logSink is a zap WriteSyncer that keeps what is written, to count it.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) Sync() error { return nil }

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// sinkLogger logs everything from Debug up into sink, in the server's
// production format (console lines, stack traces on errors).
func sinkLogger(sink *logSink) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), sink, zapcore.DebugLevel)
	return zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel))
}

// rawClient is a bare MQTT client, enough to flood a broker without
// reading its answers first: paho.mqtt.golang speaks MQTT 3 only, and
// mochi logs MQTT 5 refusals differently.
type rawClient struct {
	conn    net.Conn
	r       *bufio.Reader
	version byte // 4: MQTT 3.1.1, 5: MQTT 5
}

// dialRaw connects as device id, with a will on willTopic unless it is
// "", and returns the client with the CONNACK reason code (0 = accepted).
func dialRaw(addr string, version byte, id, pw, willTopic string, will []byte) (*rawClient, byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{conn: conn, r: bufio.NewReader(conn), version: version}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			ClientIdentifier: id, UsernameFlag: true, Username: []byte(id), PasswordFlag: true, Password: []byte(pw),
			WillFlag: willTopic != "", WillTopic: willTopic, WillPayload: will, WillQos: 1}}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		conn.Close()
		return nil, 0, err
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		conn.Close()
		return nil, 0, err
	}
	ack, err := c.read()
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("read CONNACK: %w", err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		conn.Close()
		return nil, 0, fmt.Errorf("got packet type %d, want CONNACK", ack.FixedHeader.Type)
	}
	return c, ack.ReasonCode, nil
}

// read reads one packet from the broker; only the CONNACK, PUBACK and
// DISCONNECT reason codes are decoded.
func (c *rawClient) read() (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: c.version}
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	if pk.FixedHeader.Remaining, _, err = packets.DecodeLength(c.r); err != nil {
		return pk, err
	}
	body := make([]byte, pk.FixedHeader.Remaining)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

func (c *rawClient) publish(id uint16, topic string, payload []byte) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: c.version,
		PacketID: id, TopicName: topic, Payload: payload}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return err
	}
	_, err := c.conn.Write(buf.Bytes())
	return err
}

// TestEmbeddedRefusedPublishFlood floods the embedded broker with an
// enrolled device's QoS 1 publishes to another device's topic. The
// broker's log must stay small and free of payload bytes, the device must
// be disconnected and refused for a while, and the other devices and the
// control plane must not notice.
func TestEmbeddedRefusedPublishFlood(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version byte
	}{
		{"MQTT 5", 5},
		{"MQTT 3.1.1", 4},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRefusedPublishFlood(t, tc.version) })
	}
}

func checkRefusedPublishFlood(t *testing.T, version byte) {
	const (
		chunk    = 256 << 10
		flood    = 16 << 20 // what the device tries to send
		maxLog   = 64 << 10
		deadline = 30 * time.Second
	)
	sink := &logSink{}
	pw, err := RandomPassword()
	if err != nil {
		t.Fatal(err)
	}
	br, err := StartBroker(BrokerConfig{
		Addr:             "127.0.0.1:0",
		DeviceLogin:      func(u, p string) bool { want, ok := testDevices[u]; return ok && p == want },
		InternalPassword: pw,
		Log:              sinkLogger(sink),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = br.Close()
		if t.Failed() {
			s := sink.String()
			t.Logf("broker log (%d bytes), first 4 KB:\n%.4096s", len(s), s)
		}
	})

	rec := newRecorder()
	cp := busFor(t, br.URL(), DefaultInternalUsername, pw, "cp-flood", nil, rec)
	b := mustDevice(t, br.URL(), "dev-b")
	b.subscribe(t, topic(t, "dev-b", fleet.KindDesired))

	payload := bytes.Repeat([]byte("flood-payload-"), chunk/14+1)[:chunk]
	offline := encode(t, &fleet.Reported{Header: fleet.Header{ID: "r-will"},
		Protocol: 2, AgentVersion: "1.0.0", OS: "linux", Arch: "amd64", State: fleet.StateOffline})
	a, code, err := dialRaw(br.Addr(), version, "dev-a", testDevices["dev-a"], topic(t, "dev-a", fleet.KindReported), offline)
	if err != nil || code != 0 {
		t.Fatalf("dev-a connect: code %#x, %v", code, err)
	}
	defer a.conn.Close()
	_ = a.conn.SetDeadline(time.Now().Add(deadline))

	// The broker's answers: PUBACK reason codes and how the connection ended.
	var (
		pubacks    = map[byte]int{}
		disconnect = -1 // reason code of a DISCONNECT, if one came
		ended      = make(chan error, 1)
	)
	go func() {
		for {
			pk, err := a.read()
			if err != nil {
				ended <- err
				return
			}
			switch pk.FixedHeader.Type {
			case packets.Puback:
				pubacks[pk.ReasonCode]++
			case packets.Disconnect:
				disconnect = int(pk.ReasonCode)
			}
		}
	}()
	forbidden := topic(t, "dev-b", fleet.KindReported)
	start, sent := time.Now(), 0
	var werr error
	for id := uint16(1); sent < flood; id++ {
		if werr = a.publish(id, forbidden, payload); werr != nil {
			break
		}
		sent += chunk
	}
	var rerr error
	select {
	case rerr = <-ended:
	case <-time.After(deadline):
		t.Fatalf("dev-a still connected %s after sending %d MB of refused publishes", deadline, sent>>20)
	}
	t.Logf("dev-a sent %d MB in %s (write error: %v); connection ended: %v; PUBACK codes %v, DISCONNECT %#x",
		sent>>20, time.Since(start).Round(time.Millisecond), werr, rerr, pubacks, disconnect)
	if ne := net.Error(nil); errors.As(rerr, &ne) && ne.Timeout() {
		t.Errorf("dev-a's connection timed out instead of being closed by the broker")
	}

	// dev-a is refused for a while, over MQTT 5 and MQTT 3 alike.
	if c, code, err := dialRaw(br.Addr(), 5, "dev-a", testDevices["dev-a"], "", nil); err == nil {
		c.conn.Close()
		if code == 0 {
			t.Errorf("dev-a reconnected at once after the flood")
		}
	}
	if d, err := connectDevice(br.URL(), "dev-a", "dev-a", testDevices["dev-a"], nil); err == nil {
		d.c.Disconnect(0)
		t.Errorf("dev-a reconnected (MQTT 3) at once after the flood")
	}

	// The control plane learns that dev-a went offline, from its will.
	waitFor(t, 5*time.Second, "the control plane gets dev-a's will", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		r := rec.reported["dev-a"]
		return len(r) == 1 && r[0].State == fleet.StateOffline
	})

	// dev-b and the control plane carry on.
	b.publish(t, topic(t, "dev-b", fleet.KindEvents), encode(t, &fleet.Event{Header: fleet.Header{ID: "e-b"}, Kind: fleet.EventAck, Ref: "x"}))
	waitFor(t, 5*time.Second, "the control plane gets dev-b's event", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.events["dev-b"]) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cp.PublishDesired(ctx, "dev-b", &fleet.Desired{Header: fleet.Header{ID: "d-b"}}); err != nil {
		t.Fatal(err)
	}
	if m := b.next(t, 3*time.Second); !bytes.Contains(m.Payload(), []byte(`"d-b"`)) {
		t.Errorf("dev-b got %s, want its desired state d-b", m.Payload())
	}

	log := sink.String()
	t.Logf("broker log: %d bytes for %d MB of refused publishes", len(log), sent>>20)
	if len(log) > maxLog {
		t.Errorf("broker log grew to %d bytes, want at most %d", len(log), maxLog)
	}
	decimal := strings.Trim(fmt.Sprint(payload[:16]), "[]") // how %v prints a []byte
	if strings.Contains(log, "flood-payload") || strings.Contains(log, decimal) {
		t.Errorf("payload bytes in the broker log")
	}
	if !strings.Contains(log, "dev-a") {
		t.Errorf("the broker log does not name dev-a")
	}
}
