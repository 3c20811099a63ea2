package bus

import (
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Limits on what the embedded broker logs, so that no client can fill the
// server's disk: within each logWindow a client gets logPerClient lines,
// and all clients together logPerWindow. Debug lines have budgets of their
// own, so that a debug log cannot crowd out the warnings. What is held
// back is counted and reported as one summary line per client when its
// window ends or it disconnects.
const (
	logWindow    = time.Minute
	logPerClient = 5
	logPerWindow = 100
	// logMaxClients bounds the clients tracked at once; past it, new
	// clients share one budget until a window ends and the clients
	// whose window ended are summarised and forgotten.
	logMaxClients = 4096
)

// logOverflow is the client key shared once logMaxClients are tracked.
const logOverflow = "(other clients)"

// logBudget rate-limits log lines per client (any string key; "" for
// lines about no client) and in total.
type logBudget struct {
	log       *zap.Logger // receives the summary lines
	now       func() time.Time
	perClient int
	total     int
	window    time.Duration

	mu      sync.Mutex
	clients map[logKey]*logCount
	all     [2]logCount // Debug lines, the others
	swept   time.Time
}

// logKey is what has a budget: a client's Debug lines, or its others.
type logKey struct {
	client string
	debug  bool
}

// logCount is one window of one client's lines.
type logCount struct {
	start      time.Time
	lines      int
	suppressed int
	level      zapcore.Level // the highest level suppressed
}

func newLogBudget(log *zap.Logger) *logBudget {
	return &logBudget{log: log, now: time.Now, perClient: logPerClient, total: logPerWindow,
		window: logWindow, clients: map[logKey]*logCount{}}
}

// allow says whether a line at level about client may be written now, and
// counts it as suppressed if not. Lines about no client ("") are limited
// by the total only.
func (l *logBudget) allow(client string, level zapcore.Level) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.swept) >= l.window {
		l.sweepLocked(now)
	}
	key := logKey{client: client, debug: level < zapcore.InfoLevel}
	all := &l.all[0]
	if !key.debug {
		all = &l.all[1]
	}
	if now.Sub(all.start) >= l.window {
		*all = logCount{start: now}
	}
	c := l.clients[key]
	if c == nil {
		if len(l.clients) >= logMaxClients {
			key.client = logOverflow
			c = l.clients[key]
		}
		if c == nil {
			c = &logCount{start: now}
			l.clients[key] = c
		}
	}
	if now.Sub(c.start) >= l.window {
		l.summarizeLocked(key.client, c)
		*c = logCount{start: now}
	}
	if all.lines < l.total && (client == "" || c.lines < l.perClient) {
		all.lines++
		c.lines++
		return true
	}
	if c.suppressed == 0 || level > c.level {
		c.level = level
	}
	c.suppressed++
	return false
}

// flush writes the summary of client's suppressed lines now, e.g. when it
// disconnects; its budget for the window stays spent.
func (l *logBudget) flush(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, debug := range []bool{true, false} {
		if c := l.clients[logKey{client, debug}]; c != nil {
			l.summarizeLocked(client, c)
		}
	}
}

// sweepLocked summarises and forgets the clients whose window ended.
func (l *logBudget) sweepLocked(now time.Time) {
	l.swept = now
	for key, c := range l.clients {
		if now.Sub(c.start) >= l.window {
			l.summarizeLocked(key.client, c)
			delete(l.clients, key)
		}
	}
}

func (l *logBudget) summarizeLocked(client string, c *logCount) {
	if c.suppressed == 0 {
		return
	}
	level := min(c.level, zapcore.WarnLevel) // a count is no error, and needs no stack trace
	if ce := l.log.Check(level, "MQTT broker log lines suppressed"); ce != nil {
		fields := []zap.Field{zap.Int("suppressed", c.suppressed)}
		if client != "" {
			fields = append(fields, zap.String("client", client))
		}
		ce.Write(fields...)
	}
	c.suppressed = 0
}
