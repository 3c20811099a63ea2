// Package session is the agent's MQTT session with the control plane
// (eclipse/paho, MQTT 3.1.1): a persistent session (clean session off,
// ClientID = device id), QoS 1 everywhere, reconnecting with back-off on
// its own, and a retained last will that marks the device offline.
//
// It subscribes to the device's desired and transfer/chunks topics and
// hands what arrives to its owner through channels: Desired keeps only the
// latest desired state (the latest wins), Chunks buffers transfer chunks
// (a chunk that finds the buffer full is dropped and asked for again by
// the transfer's timeout). Messages that do not decode are logged and
// dropped; a chunk whose data does not match its sha256 is one of them.
package session

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/fleet"
)

// Config configures a Session. Zero durations get the defaults noted.
type Config struct {
	DeviceID string
	Broker   fleet.MQTTCredentials
	// Will is published retained on the reported topic by the broker when
	// the connection drops without a clean disconnect; its State should be
	// fleet.StateOffline.
	Will   *fleet.Reported
	Logger *zap.Logger

	ConnectRetryInterval time.Duration // between first connection attempts; default 5s
	MaxReconnectInterval time.Duration // reconnect back-off cap; default 1m
	KeepAlive            time.Duration // default 30s
	ChunkBuffer          int           // chunks held for the transfer; default 2×fleet.MaxWindow
}

// Session is a connected (or reconnecting) MQTT session. Its methods are
// safe for concurrent use.
type Session struct {
	cfg     Config
	log     *zap.Logger
	client  mqtt.Client
	topics  map[fleet.Kind]string
	desired chan *fleet.Desired
	chunks  chan *fleet.TransferChunk
	dropped atomic.Int64 // chunks dropped because the buffer was full

	mu     sync.Mutex
	onConn chan struct{} // closed at the next (re)connection
	// first is closed once the first connection has subscribed
	first     chan struct{}
	firstOnce sync.Once
}

// Open starts connecting and returns at once; the session keeps trying to
// connect (and later to reconnect) until Close.
func Open(cfg Config) (*Session, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	setDefault(&cfg.ConnectRetryInterval, 5*time.Second)
	setDefault(&cfg.MaxReconnectInterval, time.Minute)
	setDefault(&cfg.KeepAlive, 30*time.Second)
	if cfg.ChunkBuffer <= 0 {
		cfg.ChunkBuffer = 2 * fleet.MaxWindow
	}
	s := &Session{
		cfg: cfg, log: cfg.Logger, topics: map[fleet.Kind]string{},
		desired: make(chan *fleet.Desired, 1), chunks: make(chan *fleet.TransferChunk, cfg.ChunkBuffer),
		onConn: make(chan struct{}), first: make(chan struct{}),
	}
	for _, k := range fleet.Kinds() {
		t, err := fleet.Topic(cfg.DeviceID, k)
		if err != nil {
			return nil, err
		}
		s.topics[k] = t
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker.URL).
		SetClientID(cfg.DeviceID).
		SetUsername(cfg.Broker.Username).
		SetPassword(cfg.Broker.Password).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(cfg.ConnectRetryInterval).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetKeepAlive(cfg.KeepAlive).
		SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(s.onMessage).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.log.Warn("MQTT connection lost; reconnecting", zap.String("broker", cfg.Broker.URL), zap.Error(err))
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			s.log.Debug("MQTT reconnecting", zap.String("broker", cfg.Broker.URL))
		})
	if cfg.Will != nil {
		will, err := fleet.Encode(cfg.Will)
		if err != nil {
			return nil, fmt.Errorf("last will: %w", err)
		}
		opts.SetBinaryWill(s.topics[fleet.KindReported], will, fleet.QoS, true)
	}
	s.client = mqtt.NewClient(opts)
	s.client.Connect() // with ConnectRetry it keeps trying in the background
	s.log.Info("MQTT connecting", zap.String("broker", cfg.Broker.URL), zap.String("client_id", cfg.DeviceID))
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Desired delivers desired states; only the latest one waits here.
func (s *Session) Desired() <-chan *fleet.Desired { return s.desired }

// Chunks delivers transfer chunks that decoded and matched their sha256.
func (s *Session) Chunks() <-chan *fleet.TransferChunk { return s.chunks }

// NextConnect returns a channel closed when the session next connects or
// reconnects: take it, then do what needs a connection, and redo it when
// the channel closes.
func (s *Session) NextConnect() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onConn
}

// Subscribed is closed once the session has connected and subscribed for
// the first time. Unlike NextConnect, a caller that looks after that
// moment still sees it.
func (s *Session) Subscribed() <-chan struct{} { return s.first }

// Connected reports whether the connection is up now.
func (s *Session) Connected() bool { return s.client.IsConnectionOpen() }

// Publish sends m on its topic with QoS 1, retained for the kinds that
// are. While disconnected the message waits in the client and goes out on
// reconnection; Publish returns when the broker acknowledged it or ctx
// ends, whichever comes first.
func (s *Session) Publish(ctx context.Context, m fleet.Message) error {
	kind := m.MessageKind()
	if !kind.FromAgent() {
		return fmt.Errorf("session: agents do not publish %s messages", kind)
	}
	payload, err := fleet.Encode(m)
	if err != nil {
		return err
	}
	tok := s.client.Publish(s.topics[kind], fleet.QoS, kind.Retained(), payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w (it goes out when the broker is reachable)", kind, ctx.Err())
	}
}

// Send is Publish without waiting: the client delivers m when it can (QoS
// 1, resent after a reconnection). It fails only when m does not encode.
func (s *Session) Send(m fleet.Message) error {
	kind := m.MessageKind()
	if !kind.FromAgent() {
		return fmt.Errorf("session: agents do not publish %s messages", kind)
	}
	payload, err := fleet.Encode(m)
	if err != nil {
		return err
	}
	s.client.Publish(s.topics[kind], fleet.QoS, kind.Retained(), payload)
	return nil
}

// Close disconnects cleanly (the broker does not publish the will), waiting
// up to quiesce for messages in flight.
func (s *Session) Close(quiesce time.Duration) {
	s.client.Disconnect(uint(quiesce.Milliseconds()))
}

// onConnect runs on every (re)connection, in its own goroutine: the
// session may be new (a broker restarted without persistence), so it
// subscribes again, then wakes NextConnect's waiters.
func (s *Session) onConnect(c mqtt.Client) {
	subs := map[string]byte{s.topics[fleet.KindDesired]: fleet.QoS, s.topics[fleet.KindTransferChunks]: fleet.QoS}
	tok := c.SubscribeMultiple(subs, s.onMessage)
	subscribed := tok.WaitTimeout(30*time.Second) && tok.Error() == nil
	if !subscribed {
		s.log.Error("MQTT subscribe failed; desired state and transfers will not arrive until the next reconnection",
			zap.Error(tok.Error()))
	} else {
		s.log.Info("MQTT connected", zap.String("broker", s.cfg.Broker.URL))
	}
	s.mu.Lock()
	close(s.onConn)
	s.onConn = make(chan struct{})
	s.mu.Unlock()
	if subscribed {
		s.firstOnce.Do(func() { close(s.first) })
	}
}

// onMessage routes one incoming message. It runs on the client's router
// goroutine and never blocks.
func (s *Session) onMessage(_ mqtt.Client, msg mqtt.Message) {
	if len(msg.Payload()) == 0 {
		return // a retained message being cleared
	}
	switch msg.Topic() {
	case s.topics[fleet.KindDesired]:
		d, err := fleet.DecodeDesired(msg.Payload())
		if err != nil {
			s.log.Warn("desired state refused", zap.Error(err))
			return
		}
		for { // replace what waits: the latest wins
			select {
			case s.desired <- d:
				return
			default:
				select {
				case <-s.desired:
				default:
				}
			}
		}
	case s.topics[fleet.KindTransferChunks]:
		c, err := fleet.DecodeTransferChunk(msg.Payload())
		if err != nil {
			s.log.Warn("transfer chunk refused; it will be asked for again", zap.Error(err))
			return
		}
		select {
		case s.chunks <- c:
		default:
			if n := s.dropped.Add(1); n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th… drop
				s.log.Warn("transfer chunk dropped: buffer full", zap.Int64("dropped", n))
			}
		}
	default:
		s.log.Debug("message on an unexpected topic", zap.String("topic", msg.Topic()))
	}
}
