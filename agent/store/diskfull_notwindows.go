//go:build !windows

package store

import (
	"errors"
	"syscall"
)

// isDiskFull reports whether err says the disk is full (or the user's
// quota is used up).
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
