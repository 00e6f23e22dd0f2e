package triage

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScript runs the triage script with bash on this machine and parses
// what it prints: script and parser agree on the format. Under strace, it
// also checks the script writes nothing: no file opened for writing (but
// /dev/null), created, removed, renamed or changed.
func TestScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the triage script")
	}
	out, took := runScript(t, needBash(t), Script)
	t.Logf("triage.sh printed %d bytes in %v", len(out), took.Round(time.Millisecond))
	f, err := Parse(out)
	if err != nil {
		t.Fatalf("%v; output starts %q", err, out[:min(len(out), 200)])
	}
	checkMap(t, f)
	host, _ := os.Hostname()
	if f.Hostname != host {
		t.Errorf("hostname %q, want %q", f.Hostname, host)
	}
	if f.Kernel == "" || f.CollectedAt.IsZero() || time.Since(f.CollectedAt) > 10*time.Minute {
		t.Errorf("kernel %q, collected at %v", f.Kernel, f.CollectedAt)
	}
	// This test's own process is among them, with its executable.
	self, _ := os.Executable()
	i := slices.IndexFunc(f.Processes, func(p Process) bool { return p.PID == os.Getpid() })
	if i < 0 {
		t.Fatalf("pid %d not among %d processes", os.Getpid(), len(f.Processes))
	}
	if p := f.Processes[i]; p.PPID != os.Getppid() || p.Exe != self || p.Start.IsZero() || p.User == "" || !strings.Contains(p.Cmdline, "test") {
		t.Errorf("this process: %+v (exe %s, ppid %d)", p, self, os.Getppid())
	}
	if strings.HasPrefix(self, "/tmp/") && f.Processes[i].SHA256 == "" && len(f.Processes) < 5000 {
		t.Errorf("no SHA-256 of this test binary, run from /tmp: %+v", f.Processes[i])
	}
	t.Logf("%d processes, %d connections, %d users, %d logins, %d cron, %d files, %d keys, %d skipped, truncated %v",
		len(f.Processes), len(f.Connections), len(f.Users), len(f.Logins), len(f.Cron), len(f.Files), len(f.AuthorizedKeys), len(f.Skipped), f.Truncated)
}

// needBash is the path of bash, which the script tests need (CI has it).
func needBash(t *testing.T) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CORDON_CI") != "" {
			t.Fatal("no bash, and CI (CORDON_CI) requires running the triage script")
		}
		t.Skip("no bash")
	}
	return bash
}

// runScript runs script with shell and returns what it printed and how
// long it took. Under strace, it fails t if the script writes anything:
// a file opened for writing (but /dev/null), created, removed, renamed or
// changed.
func runScript(t *testing.T, shell, script string) (out []byte, took time.Duration) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/triage.sh", []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{shell, dir + "/triage.sh"}
	straced := false
	if st, err := exec.LookPath("strace"); err == nil && exec.Command(st, "-f", "-o", "/dev/null", "true").Run() == nil {
		straced = true
		args = append([]string{st, "-f", "-qq", "--seccomp-bpf", "-o", dir + "/trace", "-e", "trace=open,openat,openat2,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,truncate,chmod,fchmodat,chown,fchownat,utimensat"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("triage.sh: %v\n%s", err, stderr.Bytes())
	}
	took = time.Since(start)
	if stderr.Len() > 0 && !straced {
		t.Errorf("stderr: %s", stderr.Bytes())
	}
	if !straced {
		// CI installs strace; a sandbox that forbids ptrace can still not
		// run it, and that is said here rather than failing.
		if _, err := exec.LookPath("strace"); err != nil && os.Getenv("CORDON_CI") != "" {
			t.Fatal("no strace, and CI (CORDON_CI) requires checking that the triage script writes nothing: .ci/run installs it")
		}
		t.Log("no strace: whether the script writes is not checked")
		return stdout.Bytes(), took
	}
	trace, err := os.ReadFile(dir + "/trace")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(trace), "\n") {
		_, call, _ := strings.Cut(line, " ")
		call = strings.TrimSpace(call)
		if call == "" || strings.HasPrefix(call, "+++") || strings.HasPrefix(call, "---") {
			continue
		}
		if strings.HasPrefix(call, "<...") {
			continue // the end of a call shown when it started
		}
		name, _, _ := strings.Cut(call, "(")
		switch name {
		case "open", "openat", "openat2", "creat":
			if name != "creat" && !strings.Contains(call, "O_WRONLY") && !strings.Contains(call, "O_RDWR") && !strings.Contains(call, "O_CREAT") {
				continue
			}
			if strings.Contains(call, `"/dev/null"`) {
				continue
			}
		}
		if strings.Contains(call, "= -1 ") {
			continue // failed: changed nothing
		}
		t.Errorf("the script writes: %s", call)
	}
	return stdout.Bytes(), took
}

// withRoot is script reading the files under root instead of the host's
// (/proc stays the host's).
func withRoot(t *testing.T, script, root string) string {
	t.Helper()
	if strings.ContainsAny(root, "'\n") || strings.Count(script, rootLine) != 1 {
		t.Fatalf("cannot set ROOT to %q", root)
	}
	return strings.Replace(script, rootLine, "\nROOT='"+root+"'\n", 1)
}

// rootLine is the line of Script that sets ROOT.
const rootLine = "\nROOT=\n"

// records is the script's output as records, decompressed.
func records(t *testing.T, out []byte) string {
	t.Helper()
	kind, body, ok := findHeader(out)
	if !ok {
		t.Fatalf("no header in %q", out[:min(len(out), 200)])
	}
	if kind == headerPlain {
		return string(body)
	}
	text, complete, err := decompress(body, MaxOutputBytes)
	if err != nil || !complete {
		t.Fatalf("compressed output: %v, complete %v", err, complete)
	}
	return string(text)
}

func TestCommands(t *testing.T) {
	if strings.Count(Script, budgetLine) != 1 || strings.Count(Script, rootLine) != 1 {
		t.Fatalf("the script must set BUDGET and ROOT once each, as %q and %q", budgetLine, rootLine)
	}
	script := strings.Split(strings.TrimSuffix(Script, "\n"), "\n")
	for _, tc := range []struct {
		budget time.Duration
		want   string
	}{
		{90 * time.Second, "BUDGET=90"},
		{1500 * time.Millisecond, "BUDGET=1"},
		{0, "BUDGET=0"},
		{-time.Second, "BUDGET=0"},
	} {
		got := Commands(tc.budget)
		if len(got) != len(script) {
			t.Fatalf("Commands(%v): %d lines, the script %d", tc.budget, len(got), len(script))
		}
		changed := 0
		for i := range got {
			if got[i] != script[i] {
				changed++
				if script[i] != strings.Trim(budgetLine, "\n") || got[i] != tc.want {
					t.Errorf("Commands(%v): line %d %q, the script's %q", tc.budget, i+1, got[i], script[i])
				}
			}
		}
		if changed != 1 && tc.want != strings.Trim(budgetLine, "\n") {
			t.Errorf("Commands(%v) changed %d lines", tc.budget, changed)
		}
	}
}

// hostile is a file system an unprivileged user of a compromised host
// arranged, under root, against a script that reads as root: links to a
// secret where the script reads or hashes, FIFOs, 8 GiB sparse files (they
// cost no disk).
type hostile struct {
	root string
	// secrets are strings only the secret files hold: none may appear in
	// the output, nor their SHA-256.
	secrets []string
	// skipped are the skip records the script must give.
	skipped []Skipped
	// payloadSHA is the hash of an ordinary file the script must still
	// hash.
	payloadSHA string
}

const eightGiB = 8 << 30

func buildHostile(t *testing.T) *hostile {
	t.Helper()
	dir := t.TempDir()
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	root := dir + "/root"
	secret, secretDir := dir+"/secret", dir+"/secretdir"
	h := &hostile{root: root}
	mark := func() string {
		b := make([]byte, 8)
		rand.Read(b)
		return "cordon-secret-" + hex.EncodeToString(b)
	}
	// Shaped like every file the script reads, so that no section would
	// drop it as noise: a shadow line, a key, a crontab line, a unit.
	secretText := func(m string) string {
		return "root:$6$" + m + ":19000:0:99999:7:::\n" +
			"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5" + m + " " + m + "\n" +
			"* * * * * root " + m + "\n" +
			"OnCalendar=" + m + "\nExecStart=/bin/" + m + "\n" +
			"Mar 14 03:58:30 web-1 sshd[1]: Accepted password for " + m + " from 192.0.2.1 port 1 ssh2\n"
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, text string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(path), 0o755))
		must(os.WriteFile(path, []byte(text), 0o644))
	}
	link := func(target, path string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(path), 0o755))
		must(os.Symlink(target, path))
	}
	fifo := func(path string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(path), 0o755))
		must(syscall.Mkfifo(path, 0o644))
	}
	sparse := func(path, start string) {
		t.Helper()
		write(path, start)
		must(os.Truncate(path, eightGiB))
	}
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	m1, m2 := mark(), mark()
	write(secret, secretText(m1))
	write(secretDir+"/authorized_keys", secretText(m2))
	write(secretDir+"/crontab", secretText(m2))
	h.secrets = []string{m1, m2, sum(secretText(m1)), sum(secretText(m2))}

	write(root+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"+
		"alice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n"+
		"carol:x:1003:1003::/home/carol:/bin/sh\ndave:x:1004:1004::/home/dave:/bin/sh\n"+
		"erin:x:1005:1005::/home/erin:/bin/sh\n")
	write(root+"/etc/ssh/sshd_config", "AuthorizedKeysFile .ssh/authorized_keys\n")
	// authorized_keys: a link to the secret, a FIFO, a home's .ssh linked
	// to a directory of secrets, an 8 GiB file (a key, then zeros), and
	// an ordinary one.
	link(secret, root+"/home/alice/.ssh/authorized_keys")
	fifo(root + "/home/bob/.ssh/authorized_keys")
	link(secretDir, root+"/home/carol/.ssh")
	write(root+"/home/dave/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5Dave dave@laptop\n")
	sparse(root+"/home/erin/.ssh/authorized_keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5Erin erin@laptop\n")
	// cron: links to the secret and to /dev/zero, a FIFO, a user's
	// crontab linked to the secret, a timer linked to it; and ordinary
	// ones, with the link systemctl enable makes (systemd's own: passed
	// over quietly).
	link(secret, root+"/etc/cron.d/evil")
	link("/dev/zero", root+"/etc/cron.d/zero")
	fifo(root + "/etc/cron.d/pipe")
	write(root+"/etc/cron.d/good", "*/5 * * * * root /usr/bin/true\n")
	link(secret, root+"/var/spool/cron/crontabs/mallory")
	link(secret, root+"/etc/systemd/system/evil.timer")
	write(root+"/etc/systemd/system/good.timer", "[Timer]\nOnCalendar=daily\n")
	write(root+"/etc/systemd/system/good.service", "[Service]\nExecStart=/usr/bin/true\n")
	link("/etc/systemd/system/good.timer", root+"/etc/systemd/system/timers.target.wants/good.timer")
	// The auth log: 8 GiB, its end zeros.
	sparse(root+"/var/log/auth.log", "Mar 14 03:58:30 web-1 sshd[2231]: Failed password for root from 203.0.113.9 port 51234 ssh2\n")
	// World-writable directories the script hashes in: links to the
	// secret and to a directory of secrets, a FIFO, an 8 GiB file, and an
	// ordinary payload.
	link(secret, root+"/tmp/evil")
	link(secretDir, root+"/tmp/linkdir")
	fifo(root + "/tmp/pipe")
	sparse(root+"/tmp/big", "\x7fELF")
	write(root+"/tmp/.x/payload", "payload\n")
	h.payloadSHA = sum("payload\n")

	h.skipped = []Skipped{
		{Section: "authorized_keys", Path: root + "/home/alice/.ssh/authorized_keys", Reason: "symlink", Target: secret},
		{Section: "authorized_keys", Path: root + "/home/bob/.ssh/authorized_keys", Reason: "not_regular", FileType: "fifo"},
		{Section: "authorized_keys", Path: root + "/home/carol/.ssh", Reason: "symlink", Target: secretDir},
		{Section: "authorized_keys", Path: root + "/home/erin/.ssh/authorized_keys", Reason: "too_large", Size: eightGiB},
		{Section: "cron", Path: root + "/etc/cron.d/evil", Reason: "symlink", Target: secret},
		{Section: "cron", Path: root + "/etc/cron.d/zero", Reason: "symlink", Target: "/dev/zero"},
		{Section: "cron", Path: root + "/etc/cron.d/pipe", Reason: "not_regular", FileType: "fifo"},
		{Section: "cron", Path: root + "/var/spool/cron/crontabs/mallory", Reason: "symlink", Target: secret},
		{Section: "cron", Path: root + "/etc/systemd/system/evil.timer", Reason: "symlink", Target: secret},
		{Section: "logins", Path: root + "/var/log/auth.log", Reason: "too_large", Size: eightGiB},
		{Section: "files", Path: root + "/tmp/big", Reason: "too_large", Size: eightGiB},
	}

	// A process whose executable is 8 GiB (sleep, grown with zeros), run
	// from a temporary directory: the script hashes such executables, but
	// not one that large. Where it cannot run (a noexec /tmp), or the
	// temporary directory is not one the script hashes in, that goes
	// untested.
	if sleep, err := exec.LookPath("sleep"); err == nil && strings.HasPrefix(dir, "/tmp/") {
		bin, err := os.ReadFile(sleep)
		must(err)
		exe := dir + "/bin/sleeper"
		must(os.MkdirAll(dir+"/bin", 0o755))
		must(os.WriteFile(exe, bin, 0o755))
		must(os.Truncate(exe, eightGiB))
		cmd := exec.Command(exe, "300")
		if err := cmd.Start(); err != nil {
			t.Logf("an 8 GiB executable does not run here (%v): its hash is not tested", err)
		} else {
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			h.skipped = append(h.skipped, Skipped{Section: "processes", Path: exe, Reason: "too_large", Size: eightGiB})
		}
	}
	return h
}

// TestScriptHostile runs the script, with bash and with dash (Debian's and
// Ubuntu's /bin/sh) where there is one, against a file system a hostile
// user arranged: it reads no secret through a link, hangs on no FIFO or
// 8 GiB file, and reports each of them; what it reads and hashes still
// parses and matches the facts schema.
func TestScriptHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the triage script")
	}
	shells := []string{needBash(t)}
	if dash, err := exec.LookPath("dash"); err == nil {
		shells = append(shells, dash)
	}
	h := buildHostile(t)
	const budget = 60 * time.Second
	for _, shell := range shells {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			out, took := runScript(t, shell, withRoot(t, withBudget(budget), h.root))
			t.Logf("triage.sh printed %d bytes in %v", len(out), took.Round(time.Millisecond))
			if took > budget/2 {
				t.Errorf("took %v of its %v budget", took, budget)
			}
			text := records(t, out)
			for _, s := range h.secrets {
				if strings.Contains(text, s) {
					t.Errorf("the output holds the secret %s", s)
				}
			}
			f, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			checkMap(t, f)

			for _, want := range h.skipped {
				if !slices.Contains(f.Skipped, want) {
					t.Errorf("not reported: %+v", want)
				}
			}
			for _, s := range f.Skipped {
				if strings.Contains(s.Path, "timers.target.wants") {
					t.Errorf("systemd's own link reported: %+v", s)
				}
				if strings.HasPrefix(s.Path, h.root+"/tmp/") && s.Reason != "too_large" {
					t.Errorf("find reported a file it should pass over: %+v", s)
				}
			}
			if !f.Truncated {
				t.Error("files read in part, but not truncated")
			}

			// What is not hostile is still read.
			for _, k := range []AuthorizedKey{
				{User: "dave", Key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5Dave", Comment: "dave@laptop"},
				{User: "erin", Key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5Erin", Comment: "erin@laptop"},
			} {
				if !slices.Contains(f.AuthorizedKeys, k) {
					t.Errorf("key %+v not among %+v", k, f.AuthorizedKeys)
				}
			}
			if len(f.AuthorizedKeys) != 2 {
				t.Errorf("keys %+v", f.AuthorizedKeys)
			}
			for _, e := range []CronEntry{
				{User: "root", Schedule: "*/5 * * * *", Command: "/usr/bin/true", Source: h.root + "/etc/cron.d/good"},
				{User: "root", Schedule: "OnCalendar=daily", Command: "/usr/bin/true", Source: h.root + "/etc/systemd/system/good.timer"},
			} {
				if !slices.Contains(f.Cron, e) {
					t.Errorf("cron entry %+v not among %+v", e, f.Cron)
				}
			}
			i := slices.IndexFunc(f.Files, func(file File) bool { return file.Path == h.root+"/tmp/.x/payload" })
			if i < 0 || f.Files[i].SHA256 != h.payloadSHA {
				t.Errorf("payload not hashed: %+v", f.Files)
			}
			for _, file := range f.Files {
				if file.SHA256 != "" && !strings.HasPrefix(file.Path, h.root+"/tmp/.x/") {
					t.Errorf("hashed: %+v", file)
				}
			}
		})
	}
}

// TestScriptBudget: with its budget spent from the start, the script
// still prints the host's facts and says which sections it skipped, at
// once.
func TestScriptBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the triage script")
	}
	out, took := runScript(t, needBash(t), withRoot(t, withBudget(0), t.TempDir()))
	if took > 10*time.Second {
		t.Errorf("took %v with no budget", took)
	}
	f, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	checkMap(t, f)
	if f.Hostname == "" || f.Kernel == "" || !f.Truncated || len(f.Processes)+len(f.Connections)+len(f.Files) != 0 {
		t.Errorf("hostname %q, kernel %q, truncated %v, %d processes, %d connections, %d files",
			f.Hostname, f.Kernel, f.Truncated, len(f.Processes), len(f.Connections), len(f.Files))
	}
	sections := []string{"authorized_keys", "cron", "processes", "connections", "logins"}
	for _, tool := range []struct{ name, section string }{{"who", "users"}, {"find", "files"}} {
		if _, err := exec.LookPath(tool.name); err == nil {
			sections = append(sections, tool.section)
		}
	}
	for _, s := range sections {
		if !slices.Contains(f.Skipped, Skipped{Section: s, Reason: "budget"}) {
			t.Errorf("section %s not reported skipped: %+v", s, f.Skipped)
		}
	}
}
