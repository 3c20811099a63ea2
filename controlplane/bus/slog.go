package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Bounds on what one attribute of a broker log line may carry: clients
// choose topics, client ids and payloads, and mochi logs whole packets.
const (
	maxLogValue = 256 // bytes of any string
	maxLogTopic = 128 // bytes of a topic
)

// newSlogger adapts zap for mochi, which logs through log/slog. Mochi's
// Info lines (listeners attached, clients coming and going) and its
// message-less warning at the end of every connection (closed by either
// side, refused login) go to zap's Debug, so a busy fleet does not flood
// the server log; refused logins are logged by the auth hook.
//
// Clients steer much of what mochi logs, so no line carries a payload:
// a packet is logged as its type, topic and sizes, strings are cut short,
// and each client's lines go through budget. An error mochi logs that is
// an MQTT reason code (a refused publish, a malformed packet) is the
// client's doing, not the server's, and is logged as a warning.
func newSlogger(log *zap.Logger, budget *logBudget) *slog.Logger {
	return slog.New(&zapHandler{log: log, budget: budget})
}

type zapHandler struct {
	log    *zap.Logger
	budget *logBudget
	fields []zap.Field
	group  string
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	default:
		return zapcore.DebugLevel
	}
}

func (h *zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	// a Warn may turn out to be a connection end, logged at Debug
	return h.log.Core().Enabled(zapLevel(l)) || h.log.Core().Enabled(zapcore.DebugLevel)
}

func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	level, msg := zapLevel(r.Level), r.Message
	if msg == "" {
		level, msg = zapcore.DebugLevel, "MQTT connection ended"
	}
	var client string
	r.Attrs(func(a slog.Attr) bool {
		switch v := a.Value.Resolve().Any().(type) {
		case string:
			if a.Key == "client" {
				client = v
			}
		case packets.Packet:
			if client == "" {
				client = v.Origin
			}
		case error:
			if level > zapcore.WarnLevel && errors.As(v, new(packets.Code)) {
				level = zapcore.WarnLevel
			}
		}
		return true
	})
	ce := h.log.Check(level, msg)
	if ce == nil || !h.budget.allow(client, level) {
		return nil
	}
	fields := append([]zap.Field(nil), h.fields...)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, h.field(a))
		return true
	})
	ce.Write(fields...)
	return nil
}

func (h *zapHandler) field(a slog.Attr) zap.Field {
	key := a.Key
	if h.group != "" {
		key = h.group + "." + key
	}
	v := a.Value.Resolve()
	if v.Kind() != slog.KindAny {
		return zap.String(key, clip(v.String(), maxLogValue))
	}
	switch x := v.Any().(type) {
	case error:
		return zap.String(key, clip(x.Error(), maxLogValue))
	case packets.Packet:
		return zap.Object(key, loggedPacket{&x})
	case *packets.Packet:
		if x == nil {
			return zap.String(key, "<nil>")
		}
		return zap.Object(key, loggedPacket{x})
	case []byte:
		return zap.String(key, fmt.Sprintf("%d bytes", len(x)))
	case fmt.Stringer:
		return zap.String(key, clip(x.String(), maxLogValue))
	default:
		return zap.String(key, fmt.Sprintf("(%T)", x))
	}
}

func (h *zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.fields = append([]zap.Field(nil), h.fields...)
	for _, a := range attrs {
		n.fields = append(n.fields, h.field(a))
	}
	return &n
}

func (h *zapHandler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}

// loggedPacket logs what a packet is, never what it carries: no payload,
// will or password.
type loggedPacket struct{ pk *packets.Packet }

func (p loggedPacket) MarshalLogObject(e zapcore.ObjectEncoder) error {
	pk := p.pk
	name, ok := packets.PacketNames[pk.FixedHeader.Type]
	if !ok {
		name = fmt.Sprintf("type %d", pk.FixedHeader.Type)
	}
	e.AddString("type", name)
	if pk.TopicName != "" {
		e.AddString("topic", clip(pk.TopicName, maxLogTopic))
	}
	if pk.FixedHeader.Type == packets.Publish {
		e.AddUint8("qos", pk.FixedHeader.Qos)
		e.AddInt("payload_bytes", len(pk.Payload))
	}
	if pk.PacketID != 0 {
		e.AddUint16("id", pk.PacketID)
	}
	if n := len(pk.Filters); n > 0 {
		e.AddInt("filters", n)
	}
	return nil
}

// clip cuts s to at most n bytes of valid UTF-8, saying how much it cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			n = i
			break
		}
	}
	return fmt.Sprintf("%s…(%d bytes)", strings.ToValidUTF8(s[:n], ""), len(s))
}
