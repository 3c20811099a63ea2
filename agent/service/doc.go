// Package service connects the agent to the service manager that runs it:
// systemd on Linux, the Service Control Manager on Windows.
//
// Under systemd (installers/systemd/autocv-agent.service: Type=notify,
// WatchdogSec) the agent tells systemd over $NOTIFY_SOCKET when it is
// ready (READY=1, once the model is loaded and self-tested), what it is
// doing (STATUS=...), that it is alive (WATCHDOG=1, every half
// $WATCHDOG_USEC while its HTTP API answers) and that it is stopping
// (STOPPING=1). The protocol is a datagram of newline-separated KEY=VALUE
// lines on a unix socket (sd_notify(3)); it is written here by hand, with
// no cgo and no libsystemd.
//
// Under the Windows Service Control Manager, a stop or shutdown request
// cancels the same root context a signal cancels (see the agent's
// signals.go), so both paths drain requests and stop the plugins alike;
// the service reports "stopped" only after that. Started any other way
// (a terminal, a container) the agent runs as a plain process and this
// package does nothing.
package service
