package bus

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newSlogger adapts zap for mochi, which logs through log/slog. Mochi's
// Info lines (listeners attached, clients coming and going) and its
// message-less warning at the end of every connection (closed by either
// side, refused login) go to zap's Debug, so a busy fleet does not flood
// the server log; refused logins are logged by the auth hook.
func newSlogger(log *zap.Logger) *slog.Logger {
	return slog.New(&zapHandler{log: log})
}

type zapHandler struct {
	log    *zap.Logger
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
	fields := append([]zap.Field(nil), h.fields...)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, h.field(a))
		return true
	})
	if ce := h.log.Check(level, msg); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

func (h *zapHandler) field(a slog.Attr) zap.Field {
	key := a.Key
	if h.group != "" {
		key = h.group + "." + key
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindAny {
		if err, ok := v.Any().(error); ok {
			return zap.NamedError(key, err)
		}
	}
	return zap.String(key, v.String())
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
