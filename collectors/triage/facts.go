package triage

import "time"

// Facts is what a triage saw on a host, in the shape of docs/collectors.md's triage
// facts (Map gives them as JSON-shaped values).
type Facts struct {
	Hostname    string
	Kernel      string
	CollectedAt time.Time

	Processes      []Process
	Connections    []Connection
	Users          []User
	Logins         []Login
	Cron           []CronEntry
	Files          []File
	AuthorizedKeys []AuthorizedKey
	// Skipped are the files the script did not read, or read only in part,
	// and the sections its time budget left out.
	Skipped []Skipped

	// Truncated is set when something was left out: the output was cut
	// (by SSM's 24,000 characters, the command's timeout or a failure),
	// the script or the parser stopped a section at its limit, a line was
	// too long to read, or a file was skipped for any reason but being a
	// link or not a regular file (those are evidence, not omissions).
	Truncated bool
}

// Process is a running process.
type Process struct {
	PID, PPID int
	Name      string // the kernel's name for it (comm), up to 15 bytes
	// Exe is the path of its executable as the kernel gives it, with
	// " (deleted)" when the file is gone; empty for kernel threads.
	Exe     string
	Cmdline string // its arguments joined by spaces, at most 4,096 bytes
	User    string // the effective user's name, or uid when it has none
	Start   time.Time
	// SHA256 is the hash of the executable when it runs from a
	// world-writable or home directory or was deleted; empty otherwise.
	SHA256 string
}

// Connection is a TCP or UDP socket and a process holding it. A socket
// several processes hold appears once for each; one no process holds
// (TIME_WAIT) has PID 0.
type Connection struct {
	PID        int
	Protocol   string // tcp or udp, either address family
	State      string // ESTABLISHED, LISTEN, TIME_WAIT …, UNCONN for unconnected UDP
	LocalIP    string // IPv4-mapped IPv6 addresses are given as IPv4
	LocalPort  int
	RemoteIP   string
	RemotePort int
}

// User is a session open now.
type User struct {
	Name      string
	TTY       string
	From      string // the remote host, empty for a local session
	LoginTime time.Time
}

// Login is a login or a failed attempt, from wtmp, btmp or sshd's log.
type Login struct {
	User    string
	From    string
	Time    time.Time
	Success bool
}

// CronEntry is a scheduled command: a crontab line, an anacron job, a
// script in /etc/cron.{hourly,daily,weekly,monthly}, or a systemd timer.
type CronEntry struct {
	User     string
	Schedule string // the five fields or @keyword; a timer's On…= settings
	Command  string
	Source   string // the file it is defined in
}

// File is a regular file changed within the last 7 days.
type File struct {
	Path   string
	MTime  time.Time
	Size   int64
	SHA256 string // for files in world-writable directories; else empty
}

// AuthorizedKey is a line of an authorized_keys file.
type AuthorizedKey struct {
	User string
	// Key is the line without its comment: options (a forced command:
	// command="…"), if any, key type and base64 key.
	Key     string
	Comment string
}

// Skipped is a file the script did not read, or read only in part, and
// why; or, without Path, a section it skipped.
type Skipped struct {
	// Section is the facts the file would have added to (authorized_keys,
	// cron, processes, files, logins, users, connections).
	Section string
	Path    string
	// Reason is why: symlink (not followed: Target is where it points),
	// not_regular (FileType says what it is), too_large (Size: a text
	// file was read in part, a log only its end, a file not hashed),
	// timeout (its read took too long), budget (the script's time ran
	// out), unreadable, or changed (a directory swapped for a link while
	// it was entered).
	Reason string
	// Target is a symlink's target as the link names it; it was not read.
	Target string
	// FileType is what a not_regular file is: fifo, socket,
	// character_device, block_device or other.
	FileType string
	Size     int64
}

// Map returns the facts as the JSON-shaped value the collector returns
// (schema/facts/aws_ssm_triage.schema.json): every key present, times as
// RFC 3339 UTC strings (left out when unknown), lists never null.
func (f *Facts) Map() map[string]any {
	m := map[string]any{
		"hostname":        f.Hostname,
		"kernel":          f.Kernel,
		"processes":       mapEach(f.Processes, Process.value),
		"connections":     mapEach(f.Connections, Connection.value),
		"users":           mapEach(f.Users, User.value),
		"logins":          mapEach(f.Logins, Login.value),
		"cron":            mapEach(f.Cron, CronEntry.value),
		"files":           mapEach(f.Files, File.value),
		"authorized_keys": mapEach(f.AuthorizedKeys, AuthorizedKey.value),
		"skipped":         mapEach(f.Skipped, Skipped.value),
		"truncated":       f.Truncated,
	}
	setTime(m, "collected_at", f.CollectedAt)
	return m
}

func mapEach[T any](xs []T, value func(T) map[string]any) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = value(x)
	}
	return out
}

// setTime sets m[key] to t in RFC 3339 UTC, unless t is unknown.
func setTime(m map[string]any, key string, t time.Time) {
	if !t.IsZero() {
		m[key] = t.UTC().Format(time.RFC3339)
	}
}

func (p Process) value() map[string]any {
	m := map[string]any{
		"pid": p.PID, "ppid": p.PPID, "name": p.Name, "exe": p.Exe,
		"cmdline": p.Cmdline, "user": p.User, "sha256": p.SHA256,
	}
	setTime(m, "start_time", p.Start)
	return m
}

func (c Connection) value() map[string]any {
	return map[string]any{
		"pid": c.PID, "protocol": c.Protocol, "state": c.State,
		"local_ip": c.LocalIP, "local_port": c.LocalPort,
		"remote_ip": c.RemoteIP, "remote_port": c.RemotePort,
	}
}

func (u User) value() map[string]any {
	m := map[string]any{"name": u.Name, "tty": u.TTY, "from": u.From}
	setTime(m, "login_time", u.LoginTime)
	return m
}

func (l Login) value() map[string]any {
	m := map[string]any{"user": l.User, "from": l.From, "success": l.Success}
	setTime(m, "time", l.Time)
	return m
}

func (c CronEntry) value() map[string]any {
	return map[string]any{"user": c.User, "schedule": c.Schedule, "command": c.Command, "source": c.Source}
}

func (f File) value() map[string]any {
	m := map[string]any{"path": f.Path, "size": int(f.Size), "sha256": f.SHA256}
	setTime(m, "mtime", f.MTime)
	return m
}

func (k AuthorizedKey) value() map[string]any {
	return map[string]any{"user": k.User, "key": k.Key, "comment": k.Comment}
}

func (s Skipped) value() map[string]any {
	return map[string]any{
		"section": s.Section, "path": s.Path, "reason": s.Reason,
		"target": s.Target, "file_type": s.FileType, "size": int(s.Size),
	}
}
