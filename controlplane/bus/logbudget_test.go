package bus

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"go.uber.org/zap/zapcore"
)

// fakeClock is a settable time.Now.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }

// allowN asks b n times for a line about client and says how many it allowed.
func allowN(b *logBudget, client string, n int) (allowed int) {
	for range n {
		if b.allow(client, zapcore.WarnLevel) {
			allowed++
		}
	}
	return allowed
}

func TestLogBudget(t *testing.T) {
	sink := &logSink{}
	clock := newFakeClock()
	b := newLogBudget(sinkLogger(sink))
	b.now = clock.now
	b.total = 3 * logPerClient

	if got := allowN(b, "dev-a", 50); got != logPerClient {
		t.Errorf("dev-a: %d of 50 lines allowed in one window, want %d", got, logPerClient)
	}
	debug := 0
	for range 50 {
		if b.allow("dev-a", zapcore.DebugLevel) {
			debug++
		}
	}
	if debug != logPerClient {
		t.Errorf("dev-a: %d of 50 debug lines allowed after its warnings, want %d of their own", debug, logPerClient)
	}
	if got := allowN(b, "dev-b", 2); got != 2 {
		t.Errorf("dev-b: %d of 2 lines allowed after dev-a's flood, want 2", got)
	}
	if got := allowN(b, "", 50); got != b.total-logPerClient-2 {
		t.Errorf("lines about no client: %d allowed, want what is left of the total, %d", got, b.total-logPerClient-2)
	}
	if got := allowN(b, "dev-c", 1); got != 0 {
		t.Errorf("dev-c: a line allowed past the total")
	}
	if s := sink.String(); s != "" {
		t.Fatalf("summaries before any window ended:\n%s", s)
	}

	b.flush("dev-a")
	b.flush("dev-a")
	s := sink.String()
	if strings.Count(s, "log lines suppressed") != 2 ||
		!strings.Contains(s, "warn\tMQTT broker log lines suppressed\t{\"suppressed\": 45, \"client\": \"dev-a\"}") ||
		!strings.Contains(s, "debug\tMQTT broker log lines suppressed\t{\"suppressed\": 45, \"client\": \"dev-a\"}") {
		t.Fatalf("after dev-a disconnects, want summaries of its 45 suppressed warnings and 45 debug lines; log:\n%s", s)
	}
	if got := allowN(b, "dev-a", 1); got != 0 {
		t.Errorf("dev-a: a reconnect renewed its budget")
	}

	clock.add(logWindow)
	if got := allowN(b, "dev-a", 50); got != logPerClient {
		t.Errorf("dev-a: %d of 50 lines allowed in the next window, want %d", got, logPerClient)
	}
	s = sink.String()
	for _, want := range []string{`"suppressed": 1, "client": "dev-a"`, `"suppressed": 1, "client": "dev-c"`, `"suppressed": 42}`} {
		if !strings.Contains(s, want) {
			t.Errorf("the window's end does not summarise %s; log:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "log lines suppressed"); n != 5 {
		t.Errorf("%d summaries, want 5; log:\n%s", n, s)
	}
}

func TestLogBudgetForgetsClients(t *testing.T) {
	clock := newFakeClock()
	b := newLogBudget(sinkLogger(&logSink{}))
	b.now = clock.now
	b.total = 1 << 30
	for i := range 2 * logMaxClients {
		b.allow(fmt.Sprintf("dev-%d", i), zapcore.DebugLevel)
	}
	if n := len(b.clients); n > logMaxClients+1 {
		t.Errorf("%d clients tracked, want at most %d and the overflow", n, logMaxClients)
	}
	clock.add(logWindow)
	b.allow("dev-a", zapcore.DebugLevel)
	if n := len(b.clients); n != 1 {
		t.Errorf("%d clients tracked a window later, want 1", n)
	}
}

func TestViolations(t *testing.T) {
	clock := newFakeClock()
	v := newViolations()
	v.now = clock.now
	refuse := func(n int) (ban time.Duration) {
		for range n {
			if b := v.refused("dev-a"); b > 0 {
				if ban > 0 {
					t.Fatalf("two bans in one burst")
				}
				ban = b
			}
		}
		return ban
	}

	if ban := refuse(violationLimit); ban != 0 {
		t.Fatalf("banned after %d refused publishes, the limit", violationLimit)
	}
	clock.add(violationWindow)
	if ban := refuse(violationLimit); ban != 0 {
		t.Fatalf("banned for refused publishes spread over two windows")
	}
	if ban := refuse(1); ban != banFirst {
		t.Fatalf("ban %s after %d refused publishes in a window, want %s", ban, violationLimit+1, banFirst)
	}
	if v.banned("dev-a") != banFirst || v.banned("dev-b") != 0 {
		t.Fatalf("banned: dev-a %s, dev-b %s", v.banned("dev-a"), v.banned("dev-b"))
	}
	if ban := refuse(100); ban != 0 {
		t.Fatalf("a ban started during a ban")
	}

	// Each ban soon after the last is twice as long, up to banMax.
	want := banFirst
	for range 10 {
		clock.add(v.banned("dev-a"))
		if v.banned("dev-a") != 0 {
			t.Fatal("still banned after the ban")
		}
		want = min(2*want, banMax)
		if ban := refuse(violationLimit + 1); ban != want {
			t.Fatalf("repeated ban %s, want %s", ban, want)
		}
	}
	clock.add(v.banned("dev-a") + banForgiven)
	if ban := refuse(violationLimit + 1); ban != banFirst {
		t.Fatalf("ban %s long after the last one ended, want %s", ban, banFirst)
	}
}

// TestSloggerHidesPayloads logs what mochi logs: whole packets, errors
// that are reason codes, long client-chosen strings.
func TestSloggerHidesPayloads(t *testing.T) {
	sink := &logSink{}
	log := sinkLogger(sink)
	slogger := newSlogger(log, newLogBudget(log))
	secret := []byte("payload-secret-payload-secret")
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7,
		TopicName: "autocv/v1/devices/dev-b/" + strings.Repeat("long/", 100), Payload: secret, Origin: "dev-a",
		Connect: packets.ConnectParams{Password: []byte("password-secret"), WillPayload: secret}}
	slogger.Error("publish packet error", "error", packets.ErrNotAuthorized, "hook", "h", "packet", pk)
	slogger.Warn("error processing packet", "error", packets.ErrProtocolViolation, "client", "dev-b", "pk", &pk)
	slogger.Debug("failed publishing packet", "client", strings.Repeat("c", 1000), "raw", secret)

	s := sink.String()
	for _, bad := range []string{"secret", "112 97 121", strings.Repeat("long/", 30), strings.Repeat("c", maxLogValue+1)} {
		if strings.Contains(s, bad) {
			t.Errorf("the log has %.40q…:\n%s", bad, s)
		}
	}
	for _, want := range []string{
		`warn	publish packet error	{"error": "not authorized", "hook": "h", "packet": {"type": "Publish", "topic": "autocv/v1/devices/dev-b/long/`,
		`"qos": 1, "payload_bytes": 29, "id": 7}`,
		`warn	error processing packet	{"error": "protocol violation", "client": "dev-b", "pk": {"type": "Publish"`,
		`(524 bytes)`,
		`"raw": "29 bytes"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the log lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "	error	") || strings.Contains(s, "zapHandler") {
		t.Errorf("a client's error logged at Error level:\n%s", s)
	}

	// dev-a's packets count against dev-a's budget.
	for range 2 * logPerClient {
		slogger.Error("publish packet error", "error", packets.ErrNotAuthorized, "packet", pk)
	}
	if n := strings.Count(sink.String(), "publish packet error"); n != logPerClient {
		t.Errorf("%d lines about dev-a's packets, want %d", n, logPerClient)
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 3, "abc"},
		{"long", "abcdef", 3, "abc…(6 bytes)"},
		{"inside a rune", "ab€cd", 3, "ab…(7 bytes)"},
		{"invalid UTF-8", "a\xffbcdef", 4, "abc…(7 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clip(tc.in, tc.n); got != tc.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
	if got := clip(strings.Repeat("€", 200), maxLogValue); got != strings.Repeat("€", maxLogValue/3)+"…(600 bytes)" {
		t.Errorf("clip of 200 €: %q", got)
	}
}
