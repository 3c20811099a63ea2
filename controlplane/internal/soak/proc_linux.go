package main

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel send SIGTERM to the server when the
// bench dies (Ctrl-C, a kill), so no server outlives it.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
