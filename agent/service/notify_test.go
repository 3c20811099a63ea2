//go:build unix

package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// systemdSocket is a unixgram socket standing in for systemd's notify
// socket; it hands each datagram received to the test.
type systemdSocket struct {
	addr string
	msgs chan string
}

func listenNotify(t *testing.T, addr string) *systemdSocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &systemdSocket{addr: addr, msgs: make(chan string, 100)}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	return s
}

func (s *systemdSocket) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notify message within 5s")
		return ""
	}
}

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

func TestNotify(t *testing.T) {
	addrs := []string{filepath.Join(t.TempDir(), "notify.sock")}
	if runtime.GOOS == "linux" {
		addrs = append(addrs, fmt.Sprintf("@autocv-notify-test-%d", os.Getpid())) // abstract namespace
	}
	for _, addr := range addrs {
		t.Run(addr, func(t *testing.T) {
			sock := listenNotify(t, addr)
			n := NotifierFromEnv(env(map[string]string{EnvNotifySocket: addr}))
			for _, tc := range []struct {
				send func() error
				want string
			}{
				{func() error { return n.Ready("serving model m v1\non 0.0.0.0:8987") }, "READY=1\nSTATUS=serving model m v1 on 0.0.0.0:8987"},
				{func() error { return n.Status("swapping") }, "STATUS=swapping"},
				{n.Watchdog, "WATCHDOG=1"},
				{n.Stopping, "STOPPING=1\nSTATUS=stopping"},
			} {
				if err := tc.send(); err != nil {
					t.Fatal(err)
				}
				if got := sock.next(t); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestNotifyNotUnderSystemd(t *testing.T) {
	n := NotifierFromEnv(env(nil))
	if n != nil {
		t.Fatalf("notifier without NOTIFY_SOCKET: %+v", n)
	}
	if err := n.Ready("x"); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
	gone := NotifierFromEnv(env(map[string]string{EnvNotifySocket: filepath.Join(t.TempDir(), "none.sock")}))
	if err := gone.Watchdog(); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("missing socket: %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name string
		vars map[string]string
		want time.Duration
		ok   bool
	}{
		{"off", nil, 0, false},
		{"zero", map[string]string{EnvWatchdogUsec: "0"}, 0, false},
		{"garbage", map[string]string{EnvWatchdogUsec: "30s"}, 0, false},
		{"30s", map[string]string{EnvWatchdogUsec: "30000000"}, 15 * time.Second, true},
		{"for us", map[string]string{EnvWatchdogUsec: "30000000", EnvWatchdogPid: me}, 15 * time.Second, true},
		{"for another process", map[string]string{EnvWatchdogUsec: "30000000", EnvWatchdogPid: "1"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := WatchdogInterval(env(tc.vars))
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %s %v, want %s %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestServiceWatchdog: the watchdog pings while the agent starts, then
// only while Alive passes; Close stops it.
func TestServiceWatchdog(t *testing.T) {
	sock := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	var alive atomic.Bool
	stopped := make(chan struct{})
	s, err := Start(Config{
		Logger: zaptest.NewLogger(t),
		Stop:   func() { close(stopped) },
		Getenv: env(map[string]string{EnvNotifySocket: sock.addr, EnvWatchdogUsec: "20000"}), // every 10ms
		Alive: func(context.Context) error {
			if alive.Load() {
				return nil
			}
			return errors.New("not answering")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Managed() {
		t.Error("Managed() = false under systemd")
	}
	if got := sock.next(t); got != "WATCHDOG=1" {
		t.Fatalf("while starting: %q", got)
	}
	s.Ready("serving")
	// Drain up to READY; from here Alive fails, so no pings.
	for m := sock.next(t); !strings.HasPrefix(m, "READY=1"); m = sock.next(t) {
	}
	time.Sleep(30 * time.Millisecond) // a tick that began before Ready
	for len(sock.msgs) > 0 {
		<-sock.msgs
	}
	select {
	case m := <-sock.msgs:
		t.Fatalf("pinged while not alive: %q", m)
	case <-time.After(100 * time.Millisecond):
	}
	alive.Store(true)
	if got := sock.next(t); got != "WATCHDOG=1" {
		t.Fatalf("alive again: %q", got)
	}
	s.Stopping()
	for m := sock.next(t); m != "STOPPING=1\nSTATUS=stopping"; m = sock.next(t) {
	}
	s.Close(0)
	for len(sock.msgs) > 0 {
		<-sock.msgs
	}
	select {
	case m := <-sock.msgs:
		t.Fatalf("message after Close: %q", m)
	case <-time.After(50 * time.Millisecond):
	}
	s.KeepAlive()
	if got := sock.next(t); got != "WATCHDOG=1" {
		t.Errorf("KeepAlive after Close: %q", got)
	}
}

func TestServiceUnmanaged(t *testing.T) {
	s, err := Start(Config{Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Managed() {
		t.Error("Managed() = true with no service manager")
	}
	s.Ready("x")
	s.Stopping()
	s.KeepAlive()
	s.Close(0)
}
