//go:build !linux

package state

import "errors"

// Outside Linux cordon records no boot id or start time, so a holder is
// judged by its pid and host name alone (the rule of state files written
// before schema version 3): a pid reused by another process after a crash
// (a container restarted with cordon as pid 1 again) keeps the dead
// holder's locks held until `cordon state unlock` removes them.

func hostBootID() string { return "" }

func selfStart() string { return "" }

var errNoStartTime = errors.New("process start times are not available on this platform")

func processStart(pid int) (start string, exited bool, err error) {
	return "", false, errNoStartTime
}
