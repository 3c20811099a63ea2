package server

import (
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

func TestLoginLimiter(t *testing.T) {
	l := newLoginLimiter()
	for i := range l.freeFails {
		if w := l.blocked("1.2.3.4", "alice"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.failed("1.2.3.4", "alice")
	}
	w1 := l.blocked("1.2.3.4", "alice")
	if w1 <= 0 || w1 > l.baseWait {
		t.Errorf("alice after %d failures: wait %s, want (0, %s]", l.freeFails, w1, l.baseWait)
	}
	l.failed("1.2.3.4", "alice")
	if w2 := l.blocked("1.2.3.4", "alice"); w2 <= w1 || w2 > 2*l.baseWait {
		t.Errorf("one more failure: wait %s, want it doubled from %s", w2, w1)
	}
	if w := l.blocked("5.6.7.8", "alice"); w != 0 {
		t.Errorf("alice blocked from another address (%s): anyone could lock her out", w)
	}
	if w := l.blocked("1.2.3.4", "admin"); w != 0 {
		t.Errorf("admin from the same address blocked (%s): one user's guesses lock another out", w)
	}
	l.succeeded("1.2.3.4", "alice")
	if w := l.blocked("1.2.3.4", "alice"); w != 0 {
		t.Errorf("alice still blocked after a success: %s", w)
	}
	for range 40 {
		l.failed("1.2.3.4", "bob")
	}
	if w := l.blocked("1.2.3.4", "bob"); w > l.maxWait {
		t.Errorf("wait %s beyond the cap %s", w, l.maxWait)
	}
	// The wait passes.
	l2 := newLoginLimiter()
	l2.baseWait = 10 * time.Millisecond
	for range l2.freeFails {
		l2.failed("ip", "u")
	}
	time.Sleep(20 * time.Millisecond)
	if w := l2.blocked("ip", "u"); w != 0 {
		t.Errorf("blocked after the wait passed: %s", w)
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
