package main

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel send SIGTERM to the child when the server
// dies, even by kill -9.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

func terminate(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }
