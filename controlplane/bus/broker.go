package bus

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/fleet"
)

// DefaultInternalUsername is the control plane's own username on the
// embedded broker. It starts with "_", so no device id can take it
// (fleet.ValidateDeviceID wants a letter or digit first).
const DefaultInternalUsername = "_autocv-controlplane"

// maxPacketSize bounds every MQTT packet the embedded broker accepts: the
// largest fleet payload (a transfer chunk) plus room for the topic and
// the packet header.
const maxPacketSize = fleet.MaxChunkPayload + 64<<10

// sessionExpiry is how long the embedded broker keeps the session of a
// disconnected client (MQTT 3 clients cannot ask for less): long enough
// for a control-plane restart, short enough that the chunks queued for a
// device that went away for good are freed.
const sessionExpiry = 24 * 60 * 60

// BrokerConfig configures the embedded MQTT broker.
type BrokerConfig struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:1883"; port 0
	// picks a free one (see Broker.Addr).
	Addr string
	// DeviceLogin checks a device's password; the username is the device
	// id. It is called on every connect, from the broker's goroutines.
	DeviceLogin func(username, password string) bool
	// InternalUsername and InternalPassword are the control plane's own
	// credentials; that client may publish and subscribe anything under
	// fleet.Root, shared subscriptions included. The username defaults to
	// DefaultInternalUsername and must not be a valid device id; the
	// password is required (RandomPassword makes one per start).
	InternalUsername string
	InternalPassword string
	// Log receives the broker's warnings and errors; nil discards them.
	Log *zap.Logger
}

// Broker is the embedded MQTT broker (mochi-mqtt) with the fleet's
// authentication and ACL.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// StartBroker starts the embedded broker on cfg.Addr. Devices log in with
// username = ClientID = device id and their own password and may touch
// only the topics fleet.Allowed gives them; the control plane logs in with
// the internal credentials; anyone else is refused. Retained messages and
// sessions live in memory only: the control plane republishes every
// desired state when it starts.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Addr == "" {
		return nil, errors.New("bus: broker: no listen address given (e.g. 127.0.0.1:1883)")
	}
	if cfg.DeviceLogin == nil {
		return nil, errors.New("bus: broker: DeviceLogin is nil; devices could not log in")
	}
	if cfg.InternalUsername == "" {
		cfg.InternalUsername = DefaultInternalUsername
	}
	if fleet.ValidateDeviceID(cfg.InternalUsername) == nil {
		return nil, fmt.Errorf("bus: broker: internal username %q could be a device id; start it with a character a device id cannot have, such as %q",
			cfg.InternalUsername, "_")
	}
	if len(cfg.InternalPassword) < 16 {
		return nil, errors.New("bus: broker: the internal password must be at least 16 characters (use RandomPassword)")
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("mqtt-broker")

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = maxPacketSize
	caps.MaximumSessionExpiryInterval = sessionExpiry
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       newSlogger(log),
		InlineClient: false,
	})
	hook := &authHook{login: cfg.DeviceLogin, user: cfg.InternalUsername, pass: cfg.InternalPassword, log: log}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("bus: broker: add auth hook: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("bus: broker: listen on %s: %w", cfg.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("bus: broker: serve: %w", err)
	}
	log.Info("MQTT broker listening", zap.String("addr", tcp.Address()))
	return &Broker{srv: srv, addr: tcp.Address()}, nil
}

// Addr is the address the broker listens on, with the real port.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as a client URL, "tcp://host:port".
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close disconnects every client and stops listening.
func (b *Broker) Close() error { return b.srv.Close() }

// RandomPassword returns 32 random bytes in URL-safe base64, for the
// internal credentials of one broker start.
func RandomPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("bus: random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// authHook authenticates clients and applies the fleet ACL. A client's
// role follows from its username, which authentication pinned: the
// internal username is the control plane, anything else a device.
type authHook struct {
	mqtt.HookBase
	login      func(username, password string) bool
	user, pass string
	log        *zap.Logger
}

func (h *authHook) ID() string { return "autocv-fleet-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish:
		return true
	}
	return false
}

func (h *authHook) internal(cl *mqtt.Client) bool {
	return string(cl.Properties.Username) == h.user
}

// OnConnectAuthenticate lets in the control plane with the internal
// credentials, and a device whose ClientID is its username, whose
// password DeviceLogin accepts and whose will (if any) goes to a topic it
// may publish.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	remote := cl.Net.Remote
	if user == "" {
		h.log.Debug("MQTT login refused: anonymous", zap.String("remote", remote))
		return false
	}
	if user == h.user {
		ok := subtle.ConstantTimeCompare([]byte(pass), []byte(h.pass)) == 1
		if !ok {
			h.log.Warn("MQTT login refused: wrong internal password", zap.String("remote", remote))
		}
		return ok
	}
	if fleet.ValidateDeviceID(user) != nil {
		h.log.Debug("MQTT login refused: username is not a device id", zap.String("remote", remote))
		return false
	}
	if string(pk.Connect.ClientIdentifier) != user {
		h.log.Debug("MQTT login refused: ClientID differs from the device id",
			zap.String("device", user), zap.String("remote", remote))
		return false
	}
	if pk.Connect.WillFlag && !fleet.Allowed(user, pk.Connect.WillTopic, true) {
		h.log.Debug("MQTT login refused: will topic not allowed",
			zap.String("device", user), zap.String("topic", pk.Connect.WillTopic))
		return false
	}
	if !h.login(user, pass) {
		h.log.Debug("MQTT login refused: unknown device or wrong password",
			zap.String("device", user), zap.String("remote", remote))
		return false
	}
	return true
}

// OnACLCheck decides subscriptions and deliveries (write false). Writes
// are decided in OnPublish instead: mochi disconnects an MQTT 3 client
// whose QoS 1 publish fails this check, where the contract is to drop it.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline || h.internal(cl) {
		return internalAllowed(topic)
	}
	if write {
		return true // see OnPublish
	}
	return fleet.Allowed(string(cl.Properties.Username), topic, false)
}

// OnPublish drops a device's publish to a topic it may not write: MQTT 5
// clients get "not authorized" in their PUBACK, MQTT 3 clients a normal
// PUBACK (MQTT 3 has no way to say no), and nobody gets the message.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.internal(cl) {
		if internalAllowed(pk.TopicName) {
			return pk, nil
		}
	} else if fleet.Allowed(string(cl.Properties.Username), pk.TopicName, true) {
		return pk, nil
	}
	h.log.Debug("MQTT publish dropped: topic not allowed",
		zap.String("client", cl.ID), zap.String("topic", pk.TopicName))
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		return pk, packets.ErrNotAuthorized
	}
	return pk, packets.CodeSuccessIgnore
}

// internalAllowed is the control plane's ACL: everything under fleet.Root,
// directly or through a shared subscription.
func internalAllowed(topic string) bool {
	if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
		_, filter, ok := strings.Cut(rest, "/")
		if !ok {
			return false
		}
		topic = filter
	}
	return strings.HasPrefix(topic, fleet.Root)
}
