//go:build !linux

package rig

import "os/exec"

// SetParentDeath does nothing off Linux: there is no parent-death signal.
func SetParentDeath(*exec.Cmd) {}
