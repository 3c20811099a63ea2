// Package bus is the control plane's MQTT side: the embedded broker
// (StartBroker) with the fleet's per-device authentication and ACL, and
// the control plane's own client (Connect), which reads what agents
// report and answers their chunked transfer requests, and publishes each
// device's desired state.
//
// The client is the same for the embedded broker and an external one
// (Mosquitto, EMQX; see EXTERNAL_BROKER.md and MosquittoACL). Several
// control-plane replicas may connect at once, each with its own ClientID:
// transfer requests arrive through a shared subscription, so exactly one
// replica answers each.
package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/fleet"
)

// Source is the content of one transfer, e.g. a package blob. If it is
// also an io.Closer, the Bus closes it after each answered request.
type Source interface {
	io.ReaderAt
	Size() int64
}

// Config configures the control plane's MQTT client.
type Config struct {
	// URL is the broker, tcp:// (or mqtt://, ssl://, tls://, mqtts://,
	// ws://, wss://) with host and port.
	URL      string
	Username string
	Password string
	// ClientID identifies this replica; keep it stable across restarts,
	// so the broker keeps its session (persistent, QoS 1) while it is
	// away, and give every replica its own.
	ClientID string
	Log      *zap.Logger

	// Transfer maps a transfer id asked for by a device to its content;
	// an error means an unknown transfer or one the device may not have,
	// and the request is ignored. Nil: this replica answers no transfers.
	Transfer func(ctx context.Context, deviceID, transferID string) (Source, error)
	// OnReported, OnEvent and OnTelemetry receive what agents send, in
	// order per topic, on the MQTT client's goroutine: keep them quick.
	// The device id comes from the topic, never from the payload. A nil
	// callback leaves that kind of topic unsubscribed.
	OnReported  func(deviceID string, r *fleet.Reported, raw []byte)
	OnEvent     func(deviceID string, e *fleet.Event)
	OnTelemetry func(deviceID string, t *fleet.Telemetry)

	// ChunkSize is the transfer chunk size, fleet.DefaultChunkSize when 0.
	ChunkSize int
	// Workers answer transfer requests; 4 when 0. Requests beyond what
	// they and a queue of 64 per worker can take are dropped (the agent
	// asks again).
	Workers int
	// ConnectTimeout bounds the first connection; 10s when 0.
	ConnectTimeout time.Duration
}

// Bus is a connected control-plane MQTT client.
type Bus struct {
	cfg    Config
	log    *zap.Logger
	client paho.Client
	subs   map[string]byte
	shared string // the shared subscription, "" when Transfer is nil
	bad    logLimiter

	ctx    context.Context // cancelled by Close; stops the workers
	cancel context.CancelFunc
	jobs   chan transferJob
	wg     sync.WaitGroup
	once   sync.Once
}

// ErrClosed is returned by a Bus after Close.
var ErrClosed = errors.New("bus: closed")

// Connect connects to the broker, subscribes and starts the transfer
// workers. It fails if the first connection or subscription fails (wrong
// URL, credentials or ACL); after that the client reconnects and
// re-subscribes by itself until Close.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	if err := checkConfig(&cfg); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	b := &Bus{cfg: cfg, log: log.Named("mqtt").With(zap.String("client_id", cfg.ClientID)), subs: map[string]byte{}}
	if err := b.subscriptions(); err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.jobs = make(chan transferJob, 64*cfg.Workers)

	firstSub := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(false).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetWriteTimeout(30 * time.Second).
		SetDefaultPublishHandler(b.onMessage).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			b.log.Warn("MQTT connection lost; reconnecting", zap.Error(err))
		}).
		SetOnConnectHandler(func(c paho.Client) {
			// runs on its own goroutine on every (re)connect: the broker may
			// have lost the session (a restart without persistence)
			err := b.subscribe(c)
			if err != nil {
				b.log.Error("MQTT subscribe failed", zap.Error(err))
			}
			select {
			case firstSub <- err:
			default:
			}
		})
	b.client = paho.NewClient(opts)

	wait := func(t paho.Token, what string) error {
		select {
		case <-t.Done():
			if err := t.Error(); err != nil {
				return fmt.Errorf("bus: %s %s as %q: %w", what, cfg.URL, cfg.Username, err)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("bus: %s %s: %w", what, cfg.URL, ctx.Err())
		}
	}
	if err := wait(b.client.Connect(), "connect to"); err != nil {
		b.client.Disconnect(0)
		b.cancel()
		return nil, err
	}
	select {
	case err := <-firstSub:
		if err != nil {
			b.client.Disconnect(0)
			b.cancel()
			return nil, err
		}
	case <-ctx.Done():
		b.client.Disconnect(0)
		b.cancel()
		return nil, fmt.Errorf("bus: subscribe on %s: %w", cfg.URL, ctx.Err())
	}
	for range cfg.Workers {
		b.wg.Add(1)
		go b.worker()
	}
	b.log.Info("MQTT connected", zap.String("url", cfg.URL))
	return b, nil
}

func checkConfig(cfg *Config) error {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.Port() == "" {
		return fmt.Errorf("bus: broker URL %q: want scheme://host:port, e.g. tcp://127.0.0.1:1883", cfg.URL)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("bus: broker URL %q: unknown scheme %q (use tcp, mqtt, ssl, tls, mqtts, ws or wss)", cfg.URL, u.Scheme)
	}
	if cfg.ClientID == "" || len(cfg.ClientID) > 64 {
		return fmt.Errorf("bus: ClientID %q: give each replica a stable id of 1 to 64 characters", cfg.ClientID)
	}
	if cfg.Username == "" {
		return errors.New("bus: no MQTT username given; the broker refuses anonymous clients")
	}
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = fleet.DefaultChunkSize
	}
	if cfg.ChunkSize < 1 || cfg.ChunkSize > fleet.MaxChunkSize {
		return fmt.Errorf("bus: chunk size %d: must be in [1, %d]", cfg.ChunkSize, fleet.MaxChunkSize)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Workers < 1 || cfg.Workers > 256 {
		return fmt.Errorf("bus: %d transfer workers: must be in [1, 256]", cfg.Workers)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Transfer == nil && cfg.OnReported == nil && cfg.OnEvent == nil && cfg.OnTelemetry == nil {
		return errors.New("bus: no callbacks and no Transfer given; nothing to subscribe to")
	}
	return nil
}

// subscriptions builds the filters the client subscribes to.
func (b *Bus) subscriptions() error {
	add := func(kind fleet.Kind, shared bool) error {
		var f string
		var err error
		if shared {
			f, err = fleet.SharedSubscription(fleet.SharedGroup, kind)
		} else {
			f, err = fleet.Subscription(kind)
		}
		if err != nil {
			return fmt.Errorf("bus: %w", err)
		}
		b.subs[f] = fleet.QoS
		if shared {
			b.shared = f
		}
		return nil
	}
	var errs []error
	if b.cfg.OnReported != nil {
		errs = append(errs, add(fleet.KindReported, false))
	}
	if b.cfg.OnEvent != nil {
		errs = append(errs, add(fleet.KindEvents, false))
	}
	if b.cfg.OnTelemetry != nil {
		errs = append(errs, add(fleet.KindTelemetry, false))
	}
	if b.cfg.Transfer != nil {
		errs = append(errs, add(fleet.KindTransferRequest, true))
	}
	return errors.Join(errs...)
}

// subscribe subscribes to every filter and checks the broker granted each.
func (b *Bus) subscribe(c paho.Client) error {
	t := c.SubscribeMultiple(b.subs, b.onMessage)
	if !t.WaitTimeout(b.cfg.ConnectTimeout) {
		return fmt.Errorf("bus: subscribe: no answer from the broker within %s", b.cfg.ConnectTimeout)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("bus: subscribe: %w", err)
	}
	st, ok := t.(*paho.SubscribeToken)
	if !ok {
		return nil
	}
	for f, code := range st.Result() {
		if code > 2 {
			return fmt.Errorf("bus: the broker refused the subscription to %q (code %#x); check that user %q may read it (see MosquittoACL)",
				f, code, b.cfg.Username)
		}
	}
	return nil
}

// onMessage decodes a message and hands it on. Whatever is wrong with it
// is logged (rate-limited) and the message dropped.
func (b *Bus) onMessage(_ paho.Client, m paho.Message) {
	topic, payload := m.Topic(), m.Payload()
	deviceID, kind, err := fleet.ParseTopic(topic)
	if err != nil {
		b.bad.log(b.log, "MQTT message on an unexpected topic dropped", zap.String("topic", topic), zap.Error(err))
		return
	}
	if len(payload) == 0 {
		// a retained message being cleared
		b.log.Debug("empty MQTT message ignored", zap.String("topic", topic))
		return
	}
	msg, err := fleet.Decode(kind, payload)
	if err != nil {
		b.bad.log(b.log, "malformed MQTT message dropped",
			zap.String("device", deviceID), zap.String("kind", string(kind)), zap.Error(err))
		return
	}
	switch msg := msg.(type) {
	case *fleet.Reported:
		if b.cfg.OnReported != nil {
			b.cfg.OnReported(deviceID, msg, payload)
		}
	case *fleet.Event:
		if b.cfg.OnEvent != nil {
			b.cfg.OnEvent(deviceID, msg)
		}
	case *fleet.Telemetry:
		if b.cfg.OnTelemetry != nil {
			b.cfg.OnTelemetry(deviceID, msg)
		}
	case *fleet.TransferRequest:
		if b.cfg.Transfer != nil {
			b.enqueue(deviceID, msg)
		}
	default:
		b.bad.log(b.log, "MQTT message of a kind the control plane does not read dropped",
			zap.String("device", deviceID), zap.String("kind", string(kind)))
	}
}

// PublishDesired publishes d, retained with QoS 1, as the desired state of
// the device, and waits until the broker has it or ctx ends.
func (b *Bus) PublishDesired(ctx context.Context, deviceID string, d *fleet.Desired) error {
	topic, err := fleet.Topic(deviceID, fleet.KindDesired)
	if err != nil {
		return fmt.Errorf("bus: publish desired: %w", err)
	}
	payload, err := fleet.Encode(d)
	if err != nil {
		return fmt.Errorf("bus: publish desired for %s: %w", deviceID, err)
	}
	return b.publish(ctx, topic, payload, true)
}

// ClearDesired removes the device's retained desired state (an empty
// retained message), e.g. when the device is deleted.
func (b *Bus) ClearDesired(ctx context.Context, deviceID string) error {
	topic, err := fleet.Topic(deviceID, fleet.KindDesired)
	if err != nil {
		return fmt.Errorf("bus: clear desired: %w", err)
	}
	return b.publish(ctx, topic, []byte{}, true)
}

func (b *Bus) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	t := b.client.Publish(topic, fleet.QoS, retain, payload)
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("bus: publish to %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bus: publish to %s: %w", topic, ctx.Err())
	}
}

// Close stops the transfer workers, leaves the transfer request share
// and disconnects. Leaving the share matters: the broker keeps the
// persistent session of a replica that is gone, and would go on handing
// it its share of the requests.
func (b *Bus) Close() {
	b.once.Do(func() {
		b.cancel()
		b.wg.Wait()
		if b.shared != "" && b.client.IsConnectionOpen() {
			if t := b.client.Unsubscribe(b.shared); !t.WaitTimeout(2*time.Second) || t.Error() != nil {
				b.log.Warn("leaving the transfer request share failed", zap.Error(t.Error()))
			}
		}
		b.client.Disconnect(250)
	})
}

// logLimiter logs at Warn at most once per interval and at Debug
// otherwise, so a device sending garbage cannot flood the log.
type logLimiter struct {
	mu   sync.Mutex
	last time.Time
}

const badLogInterval = 10 * time.Second

func (l *logLimiter) log(log *zap.Logger, msg string, fields ...zap.Field) {
	l.mu.Lock()
	now := time.Now()
	warn := now.Sub(l.last) >= badLogInterval
	if warn {
		l.last = now
	}
	l.mu.Unlock()
	if warn {
		log.Warn(msg, fields...)
	} else {
		log.Debug(msg, fields...)
	}
}
