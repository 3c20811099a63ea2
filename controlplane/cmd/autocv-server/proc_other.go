//go:build !linux

package main

import (
	"os"
	"os/exec"
)

func setParentDeath(*exec.Cmd) {}

func terminate(cmd *exec.Cmd) error {
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}
