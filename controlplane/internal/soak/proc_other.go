//go:build !linux

package main

import "os/exec"

// setParentDeath does nothing off Linux: there is no parent-death signal.
func setParentDeath(*exec.Cmd) {}
