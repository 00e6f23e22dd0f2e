package triage

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The parser's bounds. Whatever the output holds, Parse reads at most
// MaxOutputBytes of records (after decompression), skips lines longer than
// MaxLineBytes, keeps at most MaxRecords records of each section and at
// most MaxFieldBytes of each string; anything it leaves out sets
// Facts.Truncated.
const (
	MaxOutputBytes = 32 << 20
	MaxLineBytes   = 64 << 10
	MaxRecords     = 20000
	MaxFieldBytes  = 8192
	// headerSearch is how far into the output the header is looked for
	// (a login banner or a profile script may print first).
	headerSearch = 64 << 10
)

// ErrNotTriage is the error of output that is not the triage script's:
// no header line in it.
var ErrNotTriage = errors.New("not cordon triage output")

const (
	headerPlain = "cordon-triage"
	headerGzip  = "cordon-triage-gz"
)

// Parse turns what the triage script printed, plain or compressed, into
// Facts. It fails only when out holds no triage header at all (the script
// did not run, or something else printed); output cut anywhere, corrupt or
// hostile parses into what could be read, with Truncated set when anything
// was left out. Every string in the facts is valid UTF-8 (invalid bytes
// become U+FFFD) and holds no control character other than TAB and LF:
// the others are shown as \xHH (C0, DEL) or \u00HH (C1).
func Parse(out []byte) (*Facts, error) { return ParseLimit(out, MaxOutputBytes) }

// ParseLimit is Parse reading at most maxBytes bytes of records (at most
// MaxOutputBytes).
func ParseLimit(out []byte, maxBytes int) (*Facts, error) {
	if maxBytes <= 0 || maxBytes > MaxOutputBytes {
		maxBytes = MaxOutputBytes
	}
	kind, body, ok := findHeader(out)
	if !ok {
		return nil, ErrNotTriage
	}
	p := newParser()
	if kind == headerGzip {
		text, complete, err := decompress(body, maxBytes)
		if err != nil {
			return nil, err
		}
		if !complete {
			p.f.Truncated = true
		}
		// The compressed records start with their own plain header.
		if len(text) > 0 {
			k, inner, ok := findHeader(text)
			if !ok || k != headerPlain {
				return nil, fmt.Errorf("%w: the compressed records have no header", ErrNotTriage)
			}
			text = inner
		}
		body = text
	}
	if len(body) > maxBytes {
		body = body[:maxBytes]
		p.f.Truncated = true
	}
	p.parse(body)
	return p.finish(), nil
}

// findHeader finds the header line near the start of out and returns its
// kind and what follows it.
func findHeader(out []byte) (kind string, rest []byte, ok bool) {
	for i := 0; i < len(out) && i < headerSearch; {
		end := bytes.IndexByte(out[i:], '\n')
		var line []byte
		next := len(out)
		if end < 0 {
			line = out[i:]
		} else {
			line = out[i : i+end]
			next = i + end + 1
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if name, _, found := bytes.Cut(line, []byte("\t")); found {
			switch string(name) {
			case headerPlain, headerGzip:
				return string(name), out[next:], true
			}
		}
		i = next
	}
	return "", nil, false
}

// decompress decodes the base64 line of compressed output and gunzips it,
// up to maxBytes. complete is false when the output was cut or corrupt:
// text is then what could be read before that.
func decompress(b []byte, maxBytes int) (text []byte, complete bool, err error) {
	// The base64 characters, up to the first that is not one (the end of
	// the line, or garbage); whitespace in between is skipped.
	enc := make([]byte, 0, len(b))
	complete = true
scan:
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			enc = append(enc, c)
		case c == '\r' || c == ' ':
		case c == '\n':
			if len(enc) > 0 {
				break scan
			}
		default:
			complete = false
			break scan
		}
	}
	if len(enc)%4 != 0 {
		complete = false
		enc = enc[:len(enc)-len(enc)%4]
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, derr := base64.StdEncoding.Decode(raw, enc)
	if derr != nil {
		complete = false
	}
	raw = raw[:n]
	zr, zerr := gzip.NewReader(bytes.NewReader(raw))
	if zerr != nil {
		if errors.Is(zerr, io.EOF) || errors.Is(zerr, io.ErrUnexpectedEOF) {
			// Cut before the gzip header was whole: nothing to read.
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%w: the compressed records do not decompress: %v", ErrNotTriage, zerr)
	}
	text, rerr := io.ReadAll(io.LimitReader(zr, int64(maxBytes)+1))
	if rerr != nil {
		complete = false
	}
	if len(text) > maxBytes {
		text = text[:maxBytes]
		complete = false
	}
	return text, complete, nil
}

// parser holds the state of one Parse.
type parser struct {
	f     Facts
	tz    *time.Location // of syslog's timestamps
	ended bool

	counts map[string]int
	// intern maps raw fields that repeat (users, states, addresses) to
	// their one decoded string.
	intern map[string]string
	// fileAt indexes Files by path, for the hash records.
	fileAt map[string]int
	// logins dedupes logins seen in several sources (btmp and the auth
	// log).
	logins map[loginKey]bool

	// The records resolved once the whole output is read: their times
	// need the collection time, timers their services.
	who   []string
	last  []pendingLogin
	auth  []string
	units []unitLine

	fields [12][]byte
	buf    []byte
}

type loginKey struct {
	user, from string
	t          int64
	success    bool
}

type pendingLogin struct {
	line    string
	success bool
}

type unitLine struct{ path, key, value string }

func newParser() *parser {
	return &parser{
		counts: map[string]int{},
		intern: map[string]string{},
		fileAt: map[string]int{},
		logins: map[loginKey]bool{},
	}
}

// parse reads the records of body, the lines after the header.
func (p *parser) parse(body []byte) {
	for len(body) > 0 {
		var line []byte
		nl := bytes.IndexByte(body, '\n')
		if nl < 0 {
			// The last line without its newline was cut, unless it is
			// the end.
			line, body = body, nil
			if string(bytes.TrimSuffix(line, []byte("\r"))) != "end" {
				p.f.Truncated = true
				break
			}
		} else {
			line, body = body[:nl], body[nl+1:]
		}
		if len(line) > MaxLineBytes {
			p.f.Truncated = true
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		p.record(line)
		if p.ended {
			break
		}
	}
	if !p.ended {
		p.f.Truncated = true
	}
}

// split cuts line into its TAB-separated fields (at most len(p.fields);
// fields past them are ignored).
func (p *parser) split(line []byte) [][]byte {
	n := 0
	for n < len(p.fields) {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			p.fields[n] = line
			n++
			break
		}
		p.fields[n] = line[:i]
		n++
		line = line[i+1:]
	}
	return p.fields[:n]
}

// admit counts a record of section and says whether it is within bounds.
func (p *parser) admit(section string) bool {
	p.counts[section]++
	if p.counts[section] > MaxRecords {
		p.f.Truncated = true
		return false
	}
	return true
}

func (p *parser) record(line []byte) {
	f := p.split(line)
	get := func(i int) []byte {
		if i < len(f) {
			return f[i]
		}
		return nil
	}
	switch string(f[0]) {
	case "end":
		p.ended = true
	case "host":
		p.host(string(get(1)), get(2))
	case "who":
		if p.admit("users") {
			p.who = append(p.who, p.str(get(1)))
		}
	case "key":
		if p.admit("authorized_keys") {
			p.key(get(1), get(3))
		}
	case "cron":
		if p.admit("cron") {
			p.cron(get(1), get(2), get(3))
		}
	case "unit":
		if p.admit("units") {
			p.unit(get(1), get(2))
		}
	case "proc":
		if p.admit("processes") {
			p.proc(f)
		}
	case "sock":
		if p.admit("connections") {
			p.sock(f)
		}
	case "last", "lastb":
		if p.admit("logins") {
			p.last = append(p.last, pendingLogin{p.str(get(1)), string(f[0]) == "last"})
		}
	case "auth":
		if p.admit("logins") {
			p.auth = append(p.auth, p.str(get(2)))
		}
	case "file":
		if p.admit("files") {
			p.file(get(1), get(2), get(3))
		}
	case "hash":
		p.hash(get(1), get(2))
	case "skip":
		if p.admit("skipped") {
			p.skip(get(1), get(2), get(3), get(4))
		}
	case "limit":
		p.f.Truncated = true
	}
}

// skip records a file the script left out, or read in part. A link or a
// file that is not regular is evidence of its own; anything else left
// something out.
func (p *parser) skip(section, path, reason, detail []byte) {
	s := Skipped{Section: p.shared(section), Path: p.str(path), Reason: p.shared(reason)}
	switch s.Reason {
	case "":
		p.f.Truncated = true
		return
	case "symlink":
		s.Target = p.str(detail)
	case "not_regular":
		s.FileType = p.shared(detail)
	case "too_large":
		s.Size = int64(atoi(detail))
	}
	if s.Reason != "symlink" && s.Reason != "not_regular" {
		p.f.Truncated = true
	}
	p.f.Skipped = append(p.f.Skipped, s)
}

func (p *parser) host(key string, v []byte) {
	switch key {
	case "hostname":
		p.f.Hostname = p.str(v)
	case "kernel":
		p.f.Kernel = p.str(v)
	case "time":
		p.f.CollectedAt = unixTime(v)
	case "tz":
		p.tz = zoneOf(string(v))
	}
}

func (p *parser) proc(f [][]byte) {
	if len(f) < 9 {
		p.f.Truncated = true
		return
	}
	p.f.Processes = append(p.f.Processes, Process{
		PID:     atoi(f[1]),
		PPID:    atoi(f[2]),
		User:    p.shared(f[3]),
		Start:   unixTime(f[4]),
		Name:    p.str(f[5]),
		Exe:     p.str(f[6]),
		SHA256:  sha256Hex(f[7]),
		Cmdline: p.str(f[8]),
	})
}

func (p *parser) sock(f [][]byte) {
	if len(f) < 8 {
		p.f.Truncated = true
		return
	}
	p.f.Connections = append(p.f.Connections, Connection{
		Protocol:   p.shared(f[1]),
		State:      p.shared(f[2]),
		LocalIP:    p.addr(f[3]),
		LocalPort:  atoi(f[4]),
		RemoteIP:   p.addr(f[5]),
		RemotePort: atoi(f[6]),
		PID:        atoi(f[7]),
	})
}

func (p *parser) file(mtime, size, name []byte) {
	path := p.str(name)
	if _, dup := p.fileAt[path]; dup {
		return
	}
	sz, _ := strconv.ParseInt(string(size), 10, 64)
	p.fileAt[path] = len(p.f.Files)
	p.f.Files = append(p.f.Files, File{Path: path, MTime: unixTime(mtime), Size: max(sz, 0)})
}

// hash gives a changed file its SHA-256; a file the files section left
// out is added with its hash alone.
func (p *parser) hash(sum, name []byte) {
	h := sha256Hex(sum)
	if h == "" {
		return
	}
	path := p.str(name)
	if i, ok := p.fileAt[path]; ok {
		p.f.Files[i].SHA256 = h
		return
	}
	if p.admit("files") {
		p.fileAt[path] = len(p.f.Files)
		p.f.Files = append(p.f.Files, File{Path: path, SHA256: h})
	}
}

// keyTypes are the key types of authorized_keys lines.
var keyTypes = []string{"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"}

func isKeyType(s string) bool {
	for _, t := range keyTypes {
		if strings.HasPrefix(s, t) {
			return true
		}
	}
	return false
}

// key parses an authorized_keys line: [options] type base64 [comment].
func (p *parser) key(user, raw []byte) {
	line := strings.TrimSpace(p.str(raw))
	k := AuthorizedKey{User: p.shared(user)}
	// Options, unless the line starts with the key type: up to the first
	// blank outside double quotes.
	rest := line
	if first, _, _ := strings.Cut(rest, " "); !isKeyType(first) {
		quoted, i := false, 0
		for ; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' && quoted && i+1 < len(rest) {
				i++
				continue
			}
			if c == '"' {
				quoted = !quoted
			}
			if !quoted && (c == ' ' || c == '\t') {
				break
			}
		}
		rest = strings.TrimLeft(rest[i:], " \t")
	}
	// Type and key, then the comment.
	end := len(line) - len(rest)
	for n := 0; n < 2 && rest != ""; n++ {
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			i = len(rest)
		}
		end += i
		skip := len(rest[i:]) - len(strings.TrimLeft(rest[i:], " \t"))
		end += skip
		rest = rest[i+skip:]
	}
	k.Key = strings.TrimRight(line[:end], " \t")
	k.Comment = rest
	p.f.AuthorizedKeys = append(p.f.AuthorizedKeys, k)
}

// cron parses a crontab line: "min hour dom month dow [user] command",
// "@keyword [user] command", or in anacrontab "period delay id command".
// USER is empty in system crontabs, whose lines name the user.
func (p *parser) cron(source, user, raw []byte) {
	line := strings.TrimSpace(p.str(raw))
	e := CronEntry{Source: p.str(source), User: p.shared(user)}
	if line == "" || strings.HasPrefix(line, "#") || isAssignment(line) {
		return
	}
	var n int
	switch {
	case path.Base(e.Source) == "anacrontab":
		n = 3
		e.User = "root"
	case strings.HasPrefix(line, "@"):
		n = 1
	default:
		n = 5
	}
	words, rest := fieldsN(line, n)
	if len(words) < n {
		p.f.Truncated = p.f.Truncated || len(line) >= MaxFieldBytes
		return
	}
	if path.Base(e.Source) == "anacrontab" {
		e.Schedule = "@period " + words[0] + " delay " + words[1] + " job " + words[2]
	} else {
		e.Schedule = strings.Join(words, " ")
	}
	if e.User == "" {
		var u []string
		u, rest = fieldsN(rest, 1)
		if len(u) == 1 {
			e.User = u[0]
		}
	}
	e.Command = rest
	p.f.Cron = append(p.f.Cron, e)
}

// isAssignment tells a crontab's environment settings (MAILTO=root) from
// its entries.
func isAssignment(line string) bool {
	i := strings.IndexByte(line, '=')
	if i <= 0 {
		return false
	}
	name := strings.TrimSpace(line[:i])
	for _, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// fieldsN returns the first n blank-separated words of s and what follows
// them, its own blanks kept.
func fieldsN(s string, n int) (words []string, rest string) {
	rest = s
	for len(words) < n {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			i = len(rest)
		}
		words = append(words, rest[:i])
		rest = rest[i:]
	}
	return words, strings.TrimLeft(rest, " \t")
}

func (p *parser) unit(file, raw []byte) {
	key, value, ok := strings.Cut(strings.TrimSpace(p.str(raw)), "=")
	if !ok {
		return
	}
	p.units = append(p.units, unitLine{path: p.str(file), key: strings.TrimSpace(key), value: strings.TrimSpace(value)})
}

// finish resolves what needed the whole output and returns the facts.
func (p *parser) finish() *Facts {
	for _, l := range p.who {
		p.whoLine(l)
	}
	for _, l := range p.last {
		p.lastLine(l.line, l.success)
	}
	for _, l := range p.auth {
		p.authLine(l)
	}
	p.timers()
	p.who, p.last, p.auth, p.units = nil, nil, nil, nil
	return &p.f
}

// timers turns the unit records into cron entries: one per timer, with its
// On…= settings as the schedule and its service's ExecStart= and User=.
func (p *parser) timers() {
	type unitFile struct {
		settings []unitLine
	}
	files := map[string]*unitFile{}
	var order []string
	for _, u := range p.units {
		uf := files[u.path]
		if uf == nil {
			uf = &unitFile{}
			files[u.path] = uf
			order = append(order, u.path)
		}
		uf.settings = append(uf.settings, u)
	}
	// A service by its name: the first file of that name wins, as the
	// script lists them in systemd's order.
	byName := map[string]string{}
	for _, path := range order {
		name := baseName(path)
		if _, ok := byName[name]; !ok {
			byName[name] = path
		}
	}
	for _, timerPath := range order {
		if !strings.HasSuffix(timerPath, ".timer") {
			continue
		}
		var schedule []string
		service := strings.TrimSuffix(baseName(timerPath), ".timer") + ".service"
		for _, s := range files[timerPath].settings {
			switch {
			case s.key == "Unit":
				service = s.value
			case strings.HasPrefix(s.key, "On"):
				schedule = append(schedule, s.key+"="+s.value)
			}
		}
		e := CronEntry{Schedule: strings.Join(schedule, "; "), Source: timerPath, User: timerUser(timerPath)}
		svcPath := dirName(timerPath) + "/" + service
		if files[svcPath] == nil {
			svcPath = byName[service]
		}
		if svc := files[svcPath]; svc != nil {
			for _, s := range svc.settings {
				switch s.key {
				case "ExecStart":
					if e.Command != "" {
						e.Command += "; "
					}
					e.Command += s.value
				case "User":
					e.User = s.value
				}
			}
		}
		if len(p.f.Cron) >= MaxRecords {
			p.f.Truncated = true
			return
		}
		p.f.Cron = append(p.f.Cron, e)
	}
}

// timerUser is whose a timer is: a user's own under ~/.config, else
// root's (until its service says User=).
func timerUser(path string) string {
	if rest, ok := strings.CutPrefix(path, "/home/"); ok && strings.Contains(path, "/.config/systemd/user/") {
		user, _, _ := strings.Cut(rest, "/")
		return user
	}
	return "root"
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func dirName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

// whoLine parses a line of who(1): NAME LINE TIME [(FROM)], TIME being
// "2006-01-02 15:04" or, in the C locale, "Jan _2 15:04" (UTC: the script
// runs with TZ=UTC0).
func (p *parser) whoLine(line string) {
	w := strings.Fields(line)
	if len(w) < 2 {
		return
	}
	u := User{Name: w[0], TTY: w[1]}
	if len(w) >= 4 {
		if t, err := time.Parse("2006-01-02 15:04", w[2]+" "+w[3]); err == nil {
			u.LoginTime = t
		} else if len(w) >= 5 {
			u.LoginTime = p.yearless("Jan 2 15:04", w[2]+" "+w[3]+" "+w[4], time.UTC)
		}
	}
	if i := strings.LastIndexByte(line, '('); i >= 0 && strings.HasSuffix(line, ")") {
		u.From = localAsEmpty(line[i+1 : len(line)-1])
	}
	p.f.Users = append(p.f.Users, u)
}

var weekdays = map[string]bool{"Mon": true, "Tue": true, "Wed": true, "Thu": true, "Fri": true, "Sat": true, "Sun": true}

// lastLine parses a line of last -F -w -i (or lastb): USER TTY HOST
// "Mon Jan _2 15:04:05 2006" …, in UTC.
func (p *parser) lastLine(line string, success bool) {
	w := strings.Fields(line)
	if len(w) < 7 {
		return
	}
	switch w[0] {
	case "reboot", "shutdown", "runlevel", "wtmp", "btmp":
		return
	}
	for i := 2; i+4 < len(w) && i <= 3; i++ {
		if !weekdays[w[i]] {
			continue
		}
		t, err := time.Parse("Mon Jan 2 15:04:05 2006", strings.Join(w[i:i+5], " "))
		if err != nil {
			return
		}
		l := Login{User: w[0], Time: t, Success: success}
		if i == 3 {
			l.From = localAsEmpty(w[2])
		}
		p.login(l)
		return
	}
}

var (
	sshdAccepted = regexp.MustCompile(`\b(Accepted|Failed) \S+ for (invalid user )?(\S*) from (\S+) port \d+`)
	sshdInvalid  = regexp.MustCompile(`\bInvalid user (\S*) from (\S+) port \d+`)
)

// authLine parses an sshd line of the auth log ("Jan _2 15:04:05" in the
// host's local time, or RFC 3339) or of the journal (Unix seconds).
func (p *parser) authLine(line string) {
	w, _ := fieldsN(line, 3)
	if len(w) < 3 {
		return
	}
	var t time.Time
	if f, err := strconv.ParseFloat(w[0], 64); err == nil && f > 0 && f < 1e11 {
		t = time.Unix(int64(f), 0).UTC()
	} else if x, err := time.Parse(time.RFC3339Nano, w[0]); err == nil {
		t = x.UTC().Truncate(time.Second)
	} else {
		loc := p.tz
		if loc == nil {
			loc = time.UTC
		}
		t = p.yearless("Jan 2 15:04:05", strings.Join(w, " "), loc)
	}
	var l Login
	if m := sshdAccepted.FindStringSubmatch(line); m != nil {
		l = Login{User: m[3], From: m[4], Success: m[1] == "Accepted"}
	} else if m := sshdInvalid.FindStringSubmatch(line); m != nil {
		l = Login{User: m[1], From: m[2]}
	} else {
		return
	}
	l.Time = t
	p.login(l)
}

// login adds l unless the same login was seen already.
func (p *parser) login(l Login) {
	k := loginKey{l.User, l.From, l.Time.Unix(), l.Success}
	if l.Time.IsZero() {
		k.t = 0
	}
	if p.logins[k] {
		return
	}
	p.logins[k] = true
	p.f.Logins = append(p.f.Logins, l)
}

// yearless parses a time without a year as the latest such time not after
// the collection (a day of slack for clocks); zero when the collection
// time is unknown.
func (p *parser) yearless(layout, value string, loc *time.Location) time.Time {
	ref := p.f.CollectedAt
	if ref.IsZero() {
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, value, loc)
	if err != nil {
		return time.Time{}
	}
	year := ref.In(loc).Year()
	t = time.Date(year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	if t.After(ref.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t.UTC()
}

// localAsEmpty gives "" for the addresses last -i and who show for a
// local session.
func localAsEmpty(from string) string {
	switch from {
	case "0.0.0.0", "::", "-":
		return ""
	}
	return from
}

// zoneOf parses "+hhmm" into a fixed zone; nil if it is not one.
func zoneOf(s string) *time.Location {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return nil
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[3:5])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return nil
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off)
}

// atoi reads a non-negative decimal number; anything else is 0.
func atoi(b []byte) int {
	if len(b) == 0 || len(b) > 18 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// unixTime reads Unix seconds; zero (unknown) when b is not a time
// between 1970 and 9999.
func unixTime(b []byte) time.Time {
	n := atoi(b)
	if n <= 0 || n > 253402300799 {
		return time.Time{}
	}
	return time.Unix(int64(n), 0).UTC()
}

// sha256Hex is b when it is a SHA-256 in lowercase hex, else "".
func sha256Hex(b []byte) string {
	if len(b) != 64 {
		return ""
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return string(b)
}

// addr is an address in its usual form, IPv4-mapped IPv6 as IPv4 (the
// script prints IPv6 in full, as /proc/net gives it).
func (p *parser) addr(b []byte) string {
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	var s string
	if a, err := netip.ParseAddr(string(b)); err == nil {
		s = a.Unmap().String()
	} else {
		s = p.str(b)
	}
	p.remember(b, s)
	return s
}

// shared is str for fields that repeat across records, decoded once.
func (p *parser) shared(b []byte) string {
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := p.str(b)
	p.remember(b, s)
	return s
}

func (p *parser) remember(raw []byte, s string) {
	if len(p.intern) < 4096 && len(raw) <= 64 {
		p.intern[string(raw)] = s
	}
}

// str decodes an escaped field into a safe string: escapes undone,
// invalid UTF-8 made U+FFFD, control characters other than TAB and LF
// shown as \xHH or \u00HH, at most MaxFieldBytes long.
func (p *parser) str(b []byte) string {
	if len(b) <= MaxFieldBytes && plain(b) {
		return string(b)
	}
	// Undo the script's escapes.
	raw := p.buf[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 == len(b) {
			raw = append(raw, c)
			continue
		}
		switch b[i+1] {
		case '\\':
			raw = append(raw, '\\')
			i++
		case 't':
			raw = append(raw, '\t')
			i++
		case 'n':
			raw = append(raw, '\n')
			i++
		case 'r':
			raw = append(raw, '\r')
			i++
		case 'x':
			if i+3 < len(b) {
				if v, ok := unhex(b[i+2], b[i+3]); ok {
					raw = append(raw, v)
					i += 3
					continue
				}
			}
			raw = append(raw, c)
		default:
			raw = append(raw, c)
		}
	}
	p.buf = raw[:0]
	// Make it safe.
	var out strings.Builder
	out.Grow(min(len(raw), MaxFieldBytes) + 8)
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRune(raw[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = "\uFFFD"
		case r == '\t' || r == '\n':
			piece = string(r)
		case r < 0x20 || r == 0x7f:
			piece = fmt.Sprintf(`\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			piece = fmt.Sprintf(`\u%04x`, r)
		default:
			piece = string(raw[i : i+size])
		}
		if out.Len()+len(piece) > MaxFieldBytes {
			p.f.Truncated = true
			break
		}
		out.WriteString(piece)
		i += size
	}
	return out.String()
}

// plain says b needs no decoding: printable ASCII without backslashes.
func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

func unhex(a, b byte) (byte, bool) {
	x, ok1 := hexVal(a)
	y, ok2 := hexVal(b)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
