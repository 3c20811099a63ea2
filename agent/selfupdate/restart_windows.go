package selfupdate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// stopSignals delivers Ctrl+C until stop is called.
func stopSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	return ch, func() { signal.Stop(ch) }
}

// askToStop stops the trial agent. Windows has no SIGTERM for a process
// without a console; the trial agent has served no one, and its plugin
// processes exit when they see it gone.
func askToStop(p *os.Process) error { return p.Kill() }

// restart cannot re-exec on Windows. Under the Service Control Manager it
// returns ErrServiceRestart: the agent exits with a service-specific
// error and the service's recovery action starts it again. From a console
// it runs the agent as a child with the same arguments and exits with its
// status.
func restart(exe string, opts RestartOptions) error {
	if opts.Managed {
		return ErrServiceRestart
	}
	cmd := exec.Command(exe, opts.Args[1:]...)
	cmd.Env = withoutVars(opts.Env, EnvReady)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(os.Interrupt) // Ctrl+C reaches the child, which shuts down
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	}
	return fmt.Errorf("starting %s: %w", exe, err)
}
