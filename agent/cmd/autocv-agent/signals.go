package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// forceExitCode is the exit status after a second signal.
const forceExitCode = 130

// handleSignals is the one place that handles SIGINT and SIGTERM (Ctrl+C
// on Windows; systemd's stop sends SIGTERM): the first cancels the root
// context through cancel, so the agent drains and exits; a second runs
// force (bounded to a second) and exits at once. stop ends the handling.
// A Windows service stop request calls the same cancel (agent/service).
func handleSignals(cancel context.CancelFunc, log *zap.Logger, force func()) (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			log.Info("shutting down; send the signal again to exit at once", zap.Stringer("signal", s))
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			log.Warn("second signal: exiting now", zap.Stringer("signal", s))
			forced := make(chan struct{})
			go func() { force(); close(forced) }()
			select {
			case <-forced:
			case <-time.After(time.Second):
			}
			_ = log.Sync()
			os.Exit(forceExitCode)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
