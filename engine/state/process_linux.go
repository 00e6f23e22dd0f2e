package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// bootIDPath holds a random id the kernel draws at each boot: a process
// recorded under another boot id ran before the last reboot. It is the
// host's, not namespaced, so containers on one host share it.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// hostBootID returns the host's boot id, or "" when it cannot be read.
func hostBootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(b))
	if len(id) == 0 || len(id) > 64 {
		return ""
	}
	return id
}

// selfStart returns this process's start time, or "" when /proc does not
// describe this process's PID namespace. /proc shows the namespace it was
// mounted for: a process put in a new PID namespace without its own /proc
// would read other processes' entries under its pids, and compare start
// times of strangers. /proc/self names this process by its pid as /proc
// sees it, which matches os.Getpid only when the two agree.
func selfStart() string {
	pid := os.Getpid()
	if link, err := os.Readlink("/proc/self"); err != nil || link != strconv.Itoa(pid) {
		return ""
	}
	start, _, err := processStart(pid)
	if err != nil {
		return ""
	}
	return start
}

// processStart returns the start time of process pid, in clock ticks
// since boot (field 22 of /proc/PID/stat, as decimal text), and whether
// it has exited and awaits its parent (a zombie, state Z or X). The time
// is fixed for the life of the process, so a pid whose start time changed
// names another process.
func processStart(pid int) (start string, exited bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false, err
	}
	state, start, err := parseStat(b)
	if err != nil {
		return "", false, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return start, state == "Z" || state == "X" || state == "x", nil
}

// statFields is how many fields follow the command name up to starttime:
// fields 3 (state) to 22 (starttime).
const statFields = 20

// parseStat returns the state (field 3) and start time (field 22) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStat(b []byte) (state, start string, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", "", errors.New("no command name in parentheses")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < statFields {
		return "", "", fmt.Errorf("%d fields after the command name, want at least %d", len(fields), statFields)
	}
	start = fields[statFields-1]
	if _, err := strconv.ParseUint(start, 10, 64); err != nil {
		return "", "", fmt.Errorf("start time %q is not a number of clock ticks", start)
	}
	return fields[0], start, nil
}
