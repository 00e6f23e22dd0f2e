//go:build unix

package testrun

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used so far, user and system.
// Benchmarks report it per operation besides wall time, which on a machine
// shared with other work measures the waiting too.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
