//go:build unix

package selfupdate

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals delivers SIGINT and SIGTERM until stop is called.
func stopSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// askToStop asks an agent to shut down gracefully, as systemd would.
func askToStop(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// restart re-execs the process as exe with the same arguments: the same
// pid, so systemd, a container runtime or a shell keep watching it.
func restart(exe string, opts RestartOptions) error {
	env := withoutVars(opts.Env, EnvReady)
	if err := syscall.Exec(exe, opts.Args, env); err != nil {
		return fmt.Errorf("re-executing %s: %w", exe, err)
	}
	return nil // not reached
}
