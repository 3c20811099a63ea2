package bus

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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

// banReason is the reason code of the DISCONNECT an MQTT 5 device gets
// when it is banned for too many refused publishes.
var banReason = packets.ErrQuotaExceeded

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
// the internal credentials; anyone else is refused. A device that keeps
// publishing where it may not is disconnected and refused for a while
// (see violationLimit). Retained messages and sessions live in memory
// only: the control plane republishes every desired state when it starts.
//
// The broker logs no payload and at most a few lines per client and
// minute (see logPerClient), so no client can fill the server's disk.
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
	budget := newLogBudget(log)
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       newSlogger(log, budget),
		InlineClient: false,
	})
	hook := &authHook{login: cfg.DeviceLogin, user: cfg.InternalUsername, pass: cfg.InternalPassword,
		log: log, budget: budget, strikes: newViolations()}
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

// authHook authenticates clients, applies the fleet ACL and bans the
// devices that keep breaking it. A client's role follows from its
// username, which authentication pinned: the internal username is the
// control plane, anything else a device.
type authHook struct {
	mqtt.HookBase
	login      func(username, password string) bool
	user, pass string
	log        *zap.Logger
	budget     *logBudget  // limits the lines about one client
	strikes    *violations // refused publishes and bans, per device
}

// loginKey is the log budget all refused logins share: before a login,
// the client id and username are anyone's choice.
const loginKey = "(login)"

func (h *authHook) ID() string { return "autocv-fleet-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect:
		return true
	}
	return false
}

func (h *authHook) internal(cl *mqtt.Client) bool {
	return string(cl.Properties.Username) == h.user
}

// logf logs a line about client within its log budget.
func (h *authHook) logf(client string, level zapcore.Level, msg string, fields ...zap.Field) {
	if ce := h.log.Check(level, msg); ce != nil && h.budget.allow(client, level) {
		ce.Write(fields...)
	}
}

// OnConnectAuthenticate lets in the control plane with the internal
// credentials, and a device whose ClientID is its username, whose
// password DeviceLogin accepts, whose will (if any) goes to a topic it
// may publish, and which is not banned.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	remote := zap.String("remote", cl.Net.Remote)
	if user == "" {
		h.logf(loginKey, zapcore.DebugLevel, "MQTT login refused: anonymous", remote)
		return false
	}
	if user == h.user {
		ok := subtle.ConstantTimeCompare([]byte(pass), []byte(h.pass)) == 1
		if !ok {
			h.logf(loginKey, zapcore.WarnLevel, "MQTT login refused: wrong internal password", remote)
		}
		return ok
	}
	if fleet.ValidateDeviceID(user) != nil {
		h.logf(loginKey, zapcore.DebugLevel, "MQTT login refused: username is not a device id", remote)
		return false
	}
	device := zap.String("device", user) // a valid device id: short, no odd characters
	if string(pk.Connect.ClientIdentifier) != user {
		h.logf(loginKey, zapcore.DebugLevel, "MQTT login refused: ClientID differs from the device id", device, remote)
		return false
	}
	if pk.Connect.WillFlag && !fleet.Allowed(user, pk.Connect.WillTopic, true) {
		h.logf(loginKey, zapcore.DebugLevel, "MQTT login refused: will topic not allowed",
			device, zap.String("topic", clip(pk.Connect.WillTopic, maxLogTopic)))
		return false
	}
	if !h.login(user, pass) {
		h.logf(loginKey, zapcore.DebugLevel, "MQTT login refused: unknown device or wrong password", device, remote)
		return false
	}
	if left := h.strikes.banned(user); left > 0 {
		h.logf(loginKey, zapcore.DebugLevel, "MQTT login refused: device banned for publishing where it may not",
			device, remote, zap.Duration("for", left.Round(time.Second)))
		return false
	}
	return true
}

// OnDisconnect writes the count of the client's suppressed log lines.
func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.budget.flush(cl.ID)
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
// PUBACK (MQTT 3 has no way to say no), and nobody gets the message. A
// device that does it more than violationLimit times a violationWindow is
// disconnected and banned.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	device := ""
	if cl.Net.Inline || h.internal(cl) {
		if internalAllowed(pk.TopicName) {
			return pk, nil
		}
	} else {
		device = string(cl.Properties.Username)
		if fleet.Allowed(device, pk.TopicName, true) {
			return pk, nil
		}
		if h.strikes.banned(device) > 0 {
			return pk, packets.ErrRejectPacket // read before the ban closed the connection
		}
	}
	h.logf(cl.ID, zapcore.DebugLevel, "MQTT publish dropped: topic not allowed",
		zap.String("client", cl.ID), zap.String("topic", clip(pk.TopicName, maxLogTopic)))
	if device != "" {
		if ban := h.strikes.refused(device); ban > 0 {
			h.log.Warn("MQTT device disconnected and banned: too many publishes to topics it may not write",
				zap.String("device", device), zap.Int("limit", violationLimit),
				zap.Duration("window", violationWindow), zap.Duration("ban", ban))
			h.disconnect(cl)
			return pk, packets.ErrRejectPacket
		}
	}
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		return pk, packets.ErrNotAuthorized
	}
	return pk, packets.CodeSuccessIgnore
}

// disconnect ends a banned device's connection: an MQTT 5 client first
// gets a DISCONNECT saying why. The connection is closed under mochi
// rather than stopped through it, so that mochi ends the session as after
// a network error and publishes the device's will (its offline state).
func (h *authHook) disconnect(cl *mqtt.Client) {
	conn := cl.Net.Conn
	if conn == nil {
		cl.Stop(banReason)
		return
	}
	if cl.Properties.ProtocolVersion == 5 {
		// a client that reads nothing must not hold up its read loop
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
			ReasonCode: banReason.Code, Properties: packets.Properties{ReasonString: "too many publishes to topics this device may not write"}})
	}
	_ = conn.Close()
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
