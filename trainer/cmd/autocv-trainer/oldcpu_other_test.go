//go:build unix && !(linux && amd64)

package main

import "testing"

// servesOnOlderCPUs needs qemu-x86_64 emulating older x86 CPUs.
func servesOnOlderCPUs(t *testing.T, _ string) {
	t.Skip("emulated older CPUs are x86-64 (linux/amd64) only")
}
