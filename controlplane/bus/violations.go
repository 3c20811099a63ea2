package bus

import (
	"sync"
	"time"
)

// How the embedded broker treats a device that keeps publishing where it
// may not: more than violationLimit refused publishes within
// violationWindow get it disconnected and refused at login for banFirst;
// each ban that follows within banForgiven of the last one ends is twice
// as long, up to banMax. A working agent never publishes outside its own
// topics, so the limit only leaves room for a bug that does it now and
// then.
const (
	violationLimit  = 20
	violationWindow = time.Minute
	banFirst        = time.Minute
	banMax          = time.Hour
	banForgiven     = time.Hour
	// violatorsSwept is how many devices are tracked before the ones
	// with nothing left to remember are forgotten.
	violatorsSwept = 1024
)

// violations counts each device's refused publishes and bans the devices
// that keep at it.
type violations struct {
	now     func() time.Time
	limit   int
	window  time.Duration
	first   time.Duration
	max     time.Duration
	forgive time.Duration

	mu      sync.Mutex
	devices map[string]*violator
}

type violator struct {
	start time.Time     // of the current window
	n     int           // refused publishes in it
	until time.Time     // banned until
	ban   time.Duration // length of the last ban
}

func newViolations() *violations {
	return &violations{now: time.Now, limit: violationLimit, window: violationWindow,
		first: banFirst, max: banMax, forgive: banForgiven, devices: map[string]*violator{}}
}

// refused counts a refused publish by device and returns the length of
// the ban it starts, or 0 if it starts none (also while one is on).
func (v *violations) refused(device string) time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	d := v.devices[device]
	if d == nil {
		if len(v.devices) >= violatorsSwept {
			v.sweepLocked(now)
		}
		d = &violator{start: now}
		v.devices[device] = d
	}
	if now.Before(d.until) {
		return 0
	}
	if now.Sub(d.start) >= v.window {
		d.start, d.n = now, 0
	}
	d.n++
	if d.n <= v.limit {
		return 0
	}
	if d.ban == 0 || now.Sub(d.until) >= v.forgive {
		d.ban = v.first
	} else {
		d.ban = min(2*d.ban, v.max)
	}
	d.until, d.start, d.n = now.Add(d.ban), now, 0
	return d.ban
}

// banned returns how long device stays banned; 0 if it is not.
func (v *violations) banned(device string) time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	d := v.devices[device]
	if d == nil {
		return 0
	}
	return max(d.until.Sub(v.now()), 0)
}

// sweepLocked forgets the devices with no ban to remember and no refused
// publish in their current window.
func (v *violations) sweepLocked(now time.Time) {
	for device, d := range v.devices {
		if now.Sub(d.start) >= v.window && now.Sub(d.until) >= v.forgive {
			delete(v.devices, device)
		}
	}
}
