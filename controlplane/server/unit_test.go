package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

func TestLoginLimiter(t *testing.T) {
	l := newLoginLimiter()
	for i := range l.perUser {
		if w := l.blocked("1.2.3.4", "alice"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.failed("1.2.3.4", "alice")
	}
	if w := l.blocked("1.2.3.4", "alice"); w <= 0 || w > l.window {
		t.Errorf("alice after %d failures: wait %s, want (0, %s]", l.perUser, w, l.window)
	}
	if w := l.blocked("5.6.7.8", "alice"); w != 0 {
		t.Errorf("alice blocked from another address (%s): anyone could lock her out", w)
	}
	if w := l.blocked("1.2.3.4", "bob"); w != 0 {
		t.Errorf("bob from the same address blocked (%s) before the per-address limit", w)
	}
	l.succeeded("1.2.3.4", "alice")
	if w := l.blocked("1.2.3.4", "alice"); w != 0 {
		t.Errorf("alice still blocked after a success: %s", w)
	}
	// Old failures leave the window.
	l2 := newLoginLimiter()
	l2.window = 10 * time.Millisecond
	for range l2.perUser {
		l2.failed("ip", "u")
	}
	time.Sleep(20 * time.Millisecond)
	if w := l2.blocked("ip", "u"); w != 0 {
		t.Errorf("blocked after the window passed: %s", w)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"蚂蚁和蜜蜂", "ants_v2", "Line 3", "a.b-c"} {
		if !api.ValidName(ok, 64) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", " lead", "trail ", "a/b", "a\x00b", "<script>", string(make([]byte, 65))} {
		if api.ValidName(bad, 64) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLoginLimiterPerAddress(t *testing.T) {
	l := newLoginLimiter()
	for i := range l.perIP {
		l.failed("9.9.9.9", fmt.Sprint("user", i))
	}
	if w := l.blocked("9.9.9.9", "someone-else"); w <= 0 {
		t.Errorf("an address spraying %d names is not blocked", l.perIP)
	}
	if w := l.blocked("8.8.8.8", "someone-else"); w != 0 {
		t.Errorf("another address blocked: %s", w)
	}
}
