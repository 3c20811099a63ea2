package server

import (
	"sync"
	"time"
)

// loginLimiter slows password guessing per (user, client address): after
// freeFails failures a user's next try from that address waits, twice as
// long after each further failure (up to maxWait); a success clears it.
// Failures from one address never lock another user, and nobody elsewhere
// can lock a user (the admin included) out. The address is the
// connection's unless --trusted-proxies names the proxies whose
// X-Forwarded-For may be believed (behind an unnamed proxy every client
// shares one address).
type loginLimiter struct {
	mu        sync.Mutex
	freeFails int
	baseWait  time.Duration
	maxWait   time.Duration
	forget    time.Duration // a quiet key is dropped after this
	fails     map[string]*loginFails
}

type loginFails struct {
	n    int
	last time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{freeFails: 5, baseWait: 30 * time.Second, maxWait: 15 * time.Minute, forget: time.Hour,
		fails: map[string]*loginFails{}}
}

func (l *loginLimiter) wait(f *loginFails) time.Duration {
	if f == nil || f.n < l.freeFails {
		return 0
	}
	return min(l.baseWait<<min(f.n-l.freeFails, 10), l.maxWait)
}

// attempt books a login try of user from ip: it returns how long the
// caller must still wait (nothing booked), or 0 and counts the try as a
// failure until succeeded clears it. Booking before the password is
// checked means a burst of concurrent guesses gets freeFails tries, not
// one each.
func (l *loginLimiter) attempt(ip, user string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	k := user + "|" + ip
	f := l.fails[k]
	if f != nil && now.Sub(f.last) > l.forget {
		f.n = 0
	}
	if w := max(0, l.wait(f)-now.Sub(lastOf(f))); w > 0 {
		return w
	}
	if f == nil {
		if len(l.fails) >= 100_000 {
			l.evict(now)
		}
		f = &loginFails{}
		l.fails[k] = f
	}
	f.n++
	f.last = now
	return 0
}

func lastOf(f *loginFails) time.Time {
	if f == nil {
		return time.Time{}
	}
	return f.last
}

// evict makes room: quiet keys first, then a tenth of the rest (map order
// is random), so a flood of made-up names cannot stop the counting.
func (l *loginLimiter) evict(now time.Time) {
	for k, f := range l.fails {
		if now.Sub(f.last) > l.forget {
			delete(l.fails, k)
		}
	}
	for k := range l.fails {
		if len(l.fails) < 90_000 {
			break
		}
		delete(l.fails, k)
	}
}

func (l *loginLimiter) succeeded(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, user+"|"+ip)
}
