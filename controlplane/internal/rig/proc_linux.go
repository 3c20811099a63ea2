package rig

import (
	"os/exec"
	"syscall"
)

// SetParentDeath makes the kernel send SIGTERM to the server when the
// bench dies (Ctrl-C, a kill), so no server outlives it.
func SetParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
