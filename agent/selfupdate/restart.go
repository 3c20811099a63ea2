package selfupdate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"go.uber.org/zap"
)

// RestartOptions say how to restart the agent.
type RestartOptions struct {
	// Args is the agent's command line; default os.Args. Args[0] is
	// passed on as is; the binary run is always the updated one.
	Args []string
	// Env is the agent's environment; default os.Environ().
	Env []string
	// FromVersion is the running agent's version, for the Outcome.
	FromVersion string
	// KeepAlive, when set, is called about every second while the new
	// binary is tried: under systemd the updating process is still the
	// one the watchdog watches.
	KeepAlive func()
	// Managed says a service manager restarts the agent when it exits
	// with an error (the Windows Service Control Manager); see
	// ErrServiceRestart.
	Managed bool
}

// Time the trial agent has to stop once it has proved healthy, or once it
// is given up on, before it is killed.
const trialStopGrace = 30 * time.Second

// Restart finishes the update; call it once the agent has stopped serving
// (requests drained, plugins stopped, port released). It tries the new
// binary (see the package doc), keeps it or restores the old one, writes
// the Outcome, and restarts the agent with the binary now in place. On
// Unix it re-execs the process and does not return unless that fails. On
// Windows it returns ErrServiceRestart under a service manager, and
// otherwise runs the agent as a child and exits with its status.
//
// It returns ErrAborted, without restarting, when a stop signal arrives
// during the trial: the old binary is back and the agent should exit.
func (p *Pending) Restart(opts RestartOptions) error {
	if opts.Args == nil {
		opts.Args = os.Args
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	out := Outcome{Time: time.Now().UTC(), FromVersion: opts.FromVersion, ToVersion: p.version, SHA256: p.sha256, Ref: p.ref, Result: ResultUpdated}
	trialErr := p.try(opts)
	if trialErr != nil {
		out.Result, out.Reason = ResultRolledBack, trialErr.Error()
		if errors.Is(trialErr, ErrAborted) {
			out.Result = ResultAborted
		}
		if err := copyAtomic(p.old, p.exe); err != nil {
			p.log.Error("could not restore the old agent binary", zap.String("exe", p.exe), zap.String("old", p.old), zap.Error(err))
			out.Reason += "; restoring the old binary failed: " + err.Error()
			_ = writeOutcome(p.exe, out)
			return fmt.Errorf("%w; restoring the old binary failed too (%v): copy %s to %s by hand", trialErr, err, p.old, p.exe)
		}
		p.log.Warn("old agent binary restored", zap.String("exe", p.exe), zap.String("reason", trialErr.Error()))
	}
	if err := writeOutcome(p.exe, out); err != nil {
		p.log.Warn("could not record the update's outcome", zap.String("path", OutcomePath(p.exe)), zap.Error(err))
	}
	if errors.Is(trialErr, ErrAborted) {
		return trialErr
	}
	p.log.Info("restarting the agent", zap.String("exe", p.exe), zap.String("result", out.Result), zap.String("version", p.version))
	_ = p.log.Sync()
	if err := restart(p.exe, opts); err != nil {
		if trialErr != nil {
			return fmt.Errorf("%w (%v): %w", ErrRolledBack, trialErr, err)
		}
		return err
	}
	return nil
}

// try runs the new binary with the agent's arguments until it reports
// healthy (nil), exits, or runs out of time (an error wrapping
// ErrRolledBack), or a stop signal arrives (ErrAborted). It stops the
// trial agent before returning.
func (p *Pending) try(opts RestartOptions) error {
	ready := p.exe + ".update-ready"
	if err := removeIfExists(ready); err != nil {
		return fmt.Errorf("%w: %v", ErrRolledBack, err)
	}
	defer removeIfExists(ready)
	cmd := exec.Command(p.exe, opts.Args[1:]...)
	cmd.Env = append(withoutVars(opts.Env, EnvReady, "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"), EnvReady+"="+ready)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	p.log.Info("trying the new agent binary", zap.String("exe", p.exe), zap.String("version", p.version),
		zap.Duration("health_timeout", p.healthTimeout))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: starting it: %v", ErrRolledBack, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop, stopSignals := stopSignals()
	defer stopSignals()

	deadline := time.NewTimer(p.healthTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	keep := time.NewTicker(time.Second)
	defer keep.Stop()
	for {
		select {
		case err := <-exited:
			// Ctrl+C in a terminal reaches both processes; the trial may
			// exit just before this one hears the signal.
			select {
			case s := <-stop:
				return fmt.Errorf("%w (signal %s)", ErrAborted, s)
			case <-time.After(100 * time.Millisecond):
			}
			return fmt.Errorf("%w: the new agent (%s) exited before it became healthy: %v", ErrRolledBack, p.version, exitText(err))
		case <-deadline.C:
			p.stopTrial(cmd, exited)
			return fmt.Errorf("%w: the new agent (%s) did not report healthy within %s", ErrRolledBack, p.version, p.healthTimeout)
		case s := <-stop:
			p.log.Info("stop requested while trying the new agent binary; stopping it and restoring the old one", zap.Stringer("signal", s))
			_ = cmd.Process.Signal(s)
			p.stopTrial(cmd, exited)
			return fmt.Errorf("%w (signal %s)", ErrAborted, s)
		case <-keep.C:
			if opts.KeepAlive != nil {
				opts.KeepAlive()
			}
		case <-poll.C:
			if n, ok := readReady(ready, cmd.Process.Pid); ok {
				p.log.Info("the new agent binary is healthy; restarting into it", zap.Int("pid", n.Pid), zap.String("version", n.Version))
				if err := p.stopTrial(cmd, exited); err != nil {
					p.log.Warn("the trial agent did not stop in time and was killed", zap.Error(err))
				}
				return nil
			}
		}
	}
}

// stopTrial asks the trial agent to stop, and kills it if it has not
// within trialStopGrace.
func (p *Pending) stopTrial(cmd *exec.Cmd, exited <-chan error) error {
	_ = askToStop(cmd.Process)
	select {
	case <-exited:
		return nil
	case <-time.After(trialStopGrace):
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("pid %d still running %s after being asked to stop", cmd.Process.Pid, trialStopGrace)
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// withoutVars returns env without the named variables.
func withoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
