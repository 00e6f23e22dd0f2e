//go:build unix

package state

import (
	"errors"
	"syscall"
)

// processExists reports whether a process with the given id exists in
// this process's PID namespace. Signal 0 checks without signalling: ESRCH
// means no such process; EPERM means one exists that we may not signal.
// A non-positive id is never presumed absent (kill(0) and kill(-1)
// address groups of processes).
func processExists(pid int) bool {
	if pid <= 0 {
		return true
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
