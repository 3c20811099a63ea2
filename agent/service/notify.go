package service

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables systemd sets for a service (sd_notify(3),
// sd_watchdog_enabled(3)).
const (
	EnvNotifySocket = "NOTIFY_SOCKET"
	EnvWatchdogUsec = "WATCHDOG_USEC"
	EnvWatchdogPid  = "WATCHDOG_PID"
)

// Notifier sends sd_notify messages to systemd. A nil *Notifier (not run
// by systemd) sends nothing and reports no error.
type Notifier struct {
	addr string // socket path; a leading '@' is the abstract namespace
}

// NotifierFromEnv returns the Notifier for $NOTIFY_SOCKET, or nil when the
// variable is unset (the agent was not started by systemd with
// Type=notify).
func NotifierFromEnv(getenv func(string) string) *Notifier {
	addr := getenv(EnvNotifySocket)
	if addr == "" {
		return nil
	}
	return &Notifier{addr: addr}
}

// Notify sends one message of KEY=VALUE lines, e.g. "READY=1".
func (n *Notifier) Notify(lines ...string) error {
	if n == nil || len(lines) == 0 {
		return nil
	}
	msg := strings.Join(lines, "\n")
	if err := send(n.addr, []byte(msg)); err != nil {
		return fmt.Errorf("sd_notify %q to %s: %w", msg, n.addr, err)
	}
	return nil
}

// Ready says the service is up; status describes it for `systemctl status`.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1", "STATUS="+oneLine(status))
}

// Status updates the one-line status `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.Notify("STATUS=" + oneLine(status)) }

// Stopping says the service is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1", "STATUS=stopping") }

// Watchdog tells the watchdog the service is alive.
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// oneLine keeps a status to one line, as the protocol needs.
func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, when the watchdog is
// on and meant for this process ($WATCHDOG_PID unset or ours).
func WatchdogInterval(getenv func(string) string) (time.Duration, bool) {
	usec, err := strconv.ParseUint(getenv(EnvWatchdogUsec), 10, 63)
	if err != nil || usec == 0 {
		return 0, false
	}
	if p := getenv(EnvWatchdogPid); p != "" {
		if pid, err := strconv.Atoi(p); err != nil || pid != os.Getpid() {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}

// sendTimeout bounds one datagram write; systemd reads them at once.
const sendTimeout = 2 * time.Second

func send(addr string, msg []byte) error {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err = conn.Write(msg)
	return err
}
