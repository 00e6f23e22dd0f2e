package state

import "sync"

// A lock's holder, and a running apply's process, is identified by more
// than its process id. A pid names a process only while it runs: once the
// process is gone the kernel hands the number to the next one, and a
// container whose entrypoint is cordon runs it as pid 1 again after every
// restart, under the same host name. Judged by pid and host alone, a
// killed apply's locks would look held by the live process that now has
// its pid, and would never be taken over.
//
// So the store also records the host's boot id and the process's start
// time as the kernel reports it (see process_linux.go). A holder is alive
// only if, on this host and in this boot, a process with its pid exists
// now and started at the recorded time. Where the platform cannot tell
// (process_nolinux.go), or for rows an older cordon wrote without them,
// the rule falls back to the pid alone.

// process is who holds a lock or runs an apply, as recorded.
type process struct {
	PID  int
	Host string
	// BootID is the host's boot id, empty when unknown.
	BootID string
	// Start is the process's start time in the kernel's own terms, only
	// ever compared for equality; empty when unknown.
	Start string
}

// selfIdentity is this process's boot id and start time, read once: they
// cannot change while it runs.
var selfIdentity = sync.OnceValues(func() (bootID, start string) {
	return hostBootID(), selfStart()
})

// self is this process as the store records it: its pid and host name as
// of opening, and the identity read once per process.
func (s *SQLiteStore) self() process {
	boot, start := selfIdentity()
	return process{PID: s.pid, Host: s.host, BootID: boot, Start: start}
}

// liveness judges, from process me, whether process h still runs. A
// holder on another host (or when me has no host name) is never presumed
// dead: its pid means nothing here. On this host, a holder is dead when
// the host has rebooted since it was recorded, when no process has its
// pid, or when the process with its pid started at another time (the pid
// was reused) or has exited and awaits its parent. Whatever cannot be
// read (another user's process under hidepid, a /proc of another PID
// namespace) leaves the holder alive: a live apply must never lose its
// locks to a guess.
func liveness(me, h process) Liveness {
	switch {
	case me.Host == "" || h.Host != me.Host:
		return LivenessUnknown
	case h.PID <= 0:
		// kill(0) and kill(-1) address groups of processes: such a
		// record says nothing about one process.
		return LivenessAlive
	case h.BootID != "" && me.BootID != "" && h.BootID != me.BootID:
		return LivenessDead
	case !processExists(h.PID):
		return LivenessDead
	case h.Start == "" || me.Start == "":
		// Recorded by an older cordon or where start times are unknown:
		// the pid alone decides.
		return LivenessAlive
	}
	start, exited, err := processStart(h.PID)
	if err == nil && (exited || start != h.Start) {
		return LivenessDead
	}
	return LivenessAlive
}
