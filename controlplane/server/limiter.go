package server

import (
	"sync"
	"time"
)

// loginLimiter slows password guessing per (user, client address): after
// freeFails failures a user's next try from that address waits, twice as
// long after each further failure (up to maxWait); a success clears it.
// Failures from one address never lock another user, and nobody elsewhere
// can lock a user (the admin included) out.
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

// blocked is how long user must still wait before trying from ip.
func (l *loginLimiter) blocked(ip, user string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[user+"|"+ip]
	if f == nil {
		return 0
	}
	return max(0, l.wait(f)-time.Since(f.last))
}

func (l *loginLimiter) failed(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.fails) >= 100_000 { // bound memory: forget quiet keys
		for k, f := range l.fails {
			if now.Sub(f.last) > l.forget {
				delete(l.fails, k)
			}
		}
	}
	k := user + "|" + ip
	f := l.fails[k]
	if f == nil {
		if len(l.fails) >= 100_000 {
			return // still full of recent failures: the ones counted hold
		}
		f = &loginFails{}
		l.fails[k] = f
	} else if now.Sub(f.last) > l.forget {
		f.n = 0
	}
	f.n++
	f.last = now
}

func (l *loginLimiter) succeeded(ip, user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, user+"|"+ip)
}
