package server

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

func TestLoginLimiter(t *testing.T) {
	l := newLoginLimiter()
	for i := range l.freeFails {
		if w := l.attempt("1.2.3.4", "alice"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
	}
	w1 := l.attempt("1.2.3.4", "alice")
	if w1 <= 0 || w1 > l.baseWait {
		t.Errorf("alice after %d failures: wait %s, want (0, %s]", l.freeFails, w1, l.baseWait)
	}
	if w := l.attempt("5.6.7.8", "alice"); w != 0 {
		t.Errorf("alice blocked from another address (%s): anyone could lock her out", w)
	}
	if w := l.attempt("1.2.3.4", "admin"); w != 0 {
		t.Errorf("admin from the same address blocked (%s): one user's guesses lock another out", w)
	}
	l.succeeded("1.2.3.4", "alice")
	if w := l.attempt("1.2.3.4", "alice"); w != 0 {
		t.Errorf("alice still blocked after a success: %s", w)
	}
	// Concurrent guesses: only freeFails get through.
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.attempt("9.9.9.9", "bob") == 0 {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := int(passed.Load()); n != l.freeFails {
		t.Errorf("%d of 50 concurrent guesses got through, want %d", n, l.freeFails)
	}
	// The wait grows and is capped.
	f := l.fails["bob|9.9.9.9"]
	f.n = 40
	if w := l.attempt("9.9.9.9", "bob"); w > l.maxWait || w < l.maxWait/2 {
		t.Errorf("wait %s after 40 failures, want about the cap %s", w, l.maxWait)
	}
	// The wait passes.
	l2 := newLoginLimiter()
	l2.baseWait = 10 * time.Millisecond
	for range l2.freeFails {
		l2.attempt("ip", "u")
	}
	time.Sleep(20 * time.Millisecond)
	if w := l2.attempt("ip", "u"); w != 0 {
		t.Errorf("blocked after the wait passed: %s", w)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"蚂蚁和蜜蜂", "ants_v2", "Line 3", "a.b-c", "กล้อง", "कैमरा", "v1.2"} {
		if !api.ValidName(ok, 64) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", " lead", "trail ", "a/b", "a\x00b", "<script>", string(make([]byte, 65)), ".", "..", "\u0301a"} {
		if api.ValidName(bad, 64) {
			t.Errorf("%q accepted", bad)
		}
	}
}
