package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cordonhq/cordon/internal/ui"
)

// Collector types whose facts the report reads. Facts of other types are
// digested (hash, size) but contribute nothing to the timeline or scope.
const (
	typeDescribe   = "aws_ec2_describe"
	typeTriage     = "aws_ssm_triage"
	typeCloudTrail = "aws_cloudtrail_events"
	typeRelated    = "aws_guardduty_related"
	typeAcquire    = "aws_ebs_acquire"
	typeConsole    = "aws_ec2_console"
	typeMemory     = "aws_ssm_memory"
	typeFile       = "file"
)

// collectorFacts is one collector's facts, decoded into the shape of its
// type. Facts are attacker-influenced (a process's cmdline) and may come
// from an older configuration, so decoding is lenient: a field of the wrong
// JSON type is skipped and noted in problem, never fatal.
type collectorFacts struct {
	name string
	// typ is the collector's type: from the configuration, or inferred
	// from the facts' shape when the configuration no longer has the
	// collector (inferred is then true) or the type is `file`.
	typ      string
	inferred bool
	raw      json.RawMessage
	// err is the collector's own `error` fact: it failed.
	err string
	// problem says why the facts could not be read (fully).
	problem string

	describe   *describeFacts
	triage     *triageFacts
	cloudtrail *cloudtrailFacts
	related    *relatedFacts
	acquire    *acquireFacts
	console    *consoleFacts
	memory     *memoryFacts
	// keys counts the top-level keys of facts of an unknown shape.
	keys int
}

// stamp is a time as facts give it: RFC 3339 normally, but a collector of
// another version or a `file` may give another layout or epoch numbers.
// Unmarshalling never fails: a value that is no time leaves it zero, with
// the text kept for display.
type stamp struct {
	t   time.Time
	raw string
}

func (s *stamp) UnmarshalJSON(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil
	}
	s.t, _ = parseTime(v)
	switch v := v.(type) {
	case string:
		s.raw = v
	case json.Number:
		s.raw = v.String()
	}
	return nil
}

// timeLayouts are the layouts parseTime accepts besides RFC 3339: GuardDuty
// exports write "2025-02-25 20:40:06.000000000"; zone-less times are UTC.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02",
}

// parseTime reads a time from a JSON value: a string in RFC 3339 or one of
// timeLayouts, or a number of seconds (or, when it is too large to be
// seconds, milliseconds) since the epoch, as OCSF gives them.
func parseTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return time.Time{}, false
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), true
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), true
			}
		}
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return epoch(n)
		}
	case json.Number:
		if n, err := v.Float64(); err == nil {
			return epoch(n)
		}
	case float64:
		return epoch(v)
	}
	return time.Time{}, false
}

// epoch reads seconds or milliseconds since 1970. Values after 5000 AD
// in seconds are taken as milliseconds.
func epoch(n float64) (time.Time, bool) {
	if n <= 0 || n != n {
		return time.Time{}, false
	}
	if n > 1e11 {
		n /= 1000
	}
	if n > 1e11 {
		return time.Time{}, false
	}
	sec := int64(n)
	return time.Unix(sec, int64((n-float64(sec))*1e9)).UTC(), true
}

type describeFacts struct {
	InstanceID         string `json:"instance_id"`
	State              string `json:"state"`
	InstanceType       string `json:"instance_type"`
	IAMInstanceProfile *struct {
		ARN      string `json:"arn"`
		RoleName string `json:"role_name"`
	} `json:"iam_instance_profile"`
	NetworkInterfaces []struct {
		ID             string   `json:"id"`
		PrivateIP      string   `json:"private_ip"`
		PublicIP       string   `json:"public_ip"`
		SecurityGroups []string `json:"security_groups"`
	} `json:"network_interfaces"`
	Volumes []struct {
		ID     string `json:"id"`
		Device string `json:"device"`
		SizeGB int64  `json:"size_gb"`
	} `json:"volumes"`
	AutoscalingGroup string   `json:"autoscaling_group"`
	TargetGroups     []string `json:"target_groups"`
	LoadBalancers    []string `json:"load_balancers"`
}

type triageFacts struct {
	Hostname    string `json:"hostname"`
	Kernel      string `json:"kernel"`
	CollectedAt stamp  `json:"collected_at"`
	Processes   []struct {
		PID       int64  `json:"pid"`
		PPID      int64  `json:"ppid"`
		Name      string `json:"name"`
		Exe       string `json:"exe"`
		Cmdline   string `json:"cmdline"`
		User      string `json:"user"`
		StartTime stamp  `json:"start_time"`
		SHA256    string `json:"sha256"`
	} `json:"processes"`
	Connections []struct {
		PID        int64  `json:"pid"`
		Protocol   string `json:"protocol"`
		State      string `json:"state"`
		LocalIP    string `json:"local_ip"`
		LocalPort  int64  `json:"local_port"`
		RemoteIP   string `json:"remote_ip"`
		RemotePort int64  `json:"remote_port"`
	} `json:"connections"`
	Users []struct {
		Name      string `json:"name"`
		TTY       string `json:"tty"`
		From      string `json:"from"`
		LoginTime stamp  `json:"login_time"`
	} `json:"users"`
	Logins []struct {
		User    string `json:"user"`
		From    string `json:"from"`
		Time    stamp  `json:"time"`
		Success *bool  `json:"success"`
	} `json:"logins"`
	Cron []struct {
		User     string `json:"user"`
		Schedule string `json:"schedule"`
		Command  string `json:"command"`
		Source   string `json:"source"`
	} `json:"cron"`
	Files []struct {
		Path   string `json:"path"`
		MTime  stamp  `json:"mtime"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"files"`
	AuthorizedKeys []struct {
		User    string `json:"user"`
		Key     string `json:"key"`
		Comment string `json:"comment"`
	} `json:"authorized_keys"`
	Skipped   []triageSkipped `json:"skipped"`
	Truncated bool            `json:"truncated"`
}

// triageSkipped is a file the triage script did not read, or read in part
// (collectors/triage.Skipped as the facts give it).
type triageSkipped struct {
	Section  string `json:"section"`
	Path     string `json:"path"`
	Reason   string `json:"reason"`
	Target   string `json:"target"`
	FileType string `json:"file_type"`
	Size     int64  `json:"size"`
}

type cloudtrailFacts struct {
	Events []struct {
		Time        stamp  `json:"time"`
		EventName   string `json:"event_name"`
		EventSource string `json:"event_source"`
		User        string `json:"user"`
		AccessKeyID string `json:"access_key_id"`
		SourceIP    string `json:"source_ip"`
		UserAgent   string `json:"user_agent"`
		ErrorCode   string `json:"error_code"`
		Resources   []any  `json:"resources"`
		ReadOnly    *bool  `json:"read_only"`
	} `json:"events"`
	Truncated bool `json:"truncated"`
}

type relatedFacts struct {
	Findings []relatedFinding `json:"findings"`
}

type relatedFinding struct {
	ID            string   `json:"id"`
	Type          string   `json:"type"`
	Severity      string   `json:"severity"`
	SeverityScore *float64 `json:"severity_score"`
	UpdatedAt     stamp    `json:"updated_at"`
	Title         string   `json:"title"`
}

type snapshotFacts struct {
	SnapshotID string `json:"snapshot_id"`
	VolumeID   string `json:"volume_id"`
	Device     string `json:"device"`
	State      string `json:"state"`
	StartedAt  stamp  `json:"started_at"`
}

type acquireFacts struct {
	Snapshots []snapshotFacts `json:"snapshots"`
}

type consoleFacts struct {
	Output           string `json:"output"`
	OutputTruncated  bool   `json:"output_truncated"`
	ScreenshotSHA256 string `json:"screenshot_sha256"`
	ScreenshotBytes  int64  `json:"screenshot_bytes"`
	ScreenshotError  string `json:"screenshot_error"`
}

type memoryFacts struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size"`
	Tool      string `json:"tool"`
}

// shapeKeys are the top-level keys that tell a facts object's type when
// the configuration does not (see inferType).
type shapeKeys struct {
	Error             json.RawMessage `json:"error"`
	Events            json.RawMessage `json:"events"`
	Findings          json.RawMessage `json:"findings"`
	Snapshots         json.RawMessage `json:"snapshots"`
	Processes         json.RawMessage `json:"processes"`
	Connections       json.RawMessage `json:"connections"`
	Logins            json.RawMessage `json:"logins"`
	CollectedAt       json.RawMessage `json:"collected_at"`
	InstanceID        json.RawMessage `json:"instance_id"`
	NetworkInterfaces json.RawMessage `json:"network_interfaces"`
	Volumes           json.RawMessage `json:"volumes"`
	Output            json.RawMessage `json:"output"`
	ScreenshotSHA256  json.RawMessage `json:"screenshot_sha256"`
	Bucket            json.RawMessage `json:"bucket"`
	Tool              json.RawMessage `json:"tool"`
}

// inferType recognises a facts object's collector type by its keys, for
// facts whose collector the configuration no longer has, or a `file`
// collector replaying recorded facts. It returns "" for a shape it does
// not know.
func inferType(k *shapeKeys) string {
	switch {
	case k.Processes != nil || k.Connections != nil || k.Logins != nil || k.CollectedAt != nil:
		return typeTriage
	case k.Events != nil:
		return typeCloudTrail
	case k.Findings != nil:
		return typeRelated
	case k.Snapshots != nil:
		return typeAcquire
	case k.InstanceID != nil || k.NetworkInterfaces != nil || k.Volumes != nil:
		return typeDescribe
	case k.Output != nil || k.ScreenshotSHA256 != nil:
		return typeConsole
	case k.Bucket != nil && k.Tool != nil:
		return typeMemory
	}
	return ""
}

// decodeFacts reads an incident's facts (an object keyed by collector name)
// into collectorFacts, sorted by name. A facts document that is not an
// object gives an error; a collector's facts that do not fit its type
// are kept with a problem.
func decodeFacts(raw json.RawMessage, types map[string]string) ([]*collectorFacts, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var byName map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byName); err != nil {
		return nil, fmt.Errorf("the incident's facts are not a JSON object keyed by collector: %v", err)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*collectorFacts, 0, len(names))
	for _, n := range names {
		out = append(out, decodeCollector(n, types[n], byName[n]))
	}
	return out, nil
}

// decodeCollector decodes one collector's facts. typ is the configured
// type, "" when the configuration does not know the collector.
func decodeCollector(name, typ string, raw json.RawMessage) *collectorFacts {
	c := &collectorFacts{name: name, typ: typ, raw: raw}
	var keys shapeKeys
	if err := json.Unmarshal(raw, &keys); err != nil {
		c.problem = "facts are not a JSON object: " + shortErr(err)
		return c
	}
	if keys.Error != nil {
		var msg string
		if json.Unmarshal(keys.Error, &msg) != nil {
			msg = string(keys.Error)
		}
		c.err = clean(msg, maxDetail)
	}
	if typ == "" || typ == typeFile {
		if t := inferType(&keys); t != "" {
			c.typ, c.inferred = t, true
		}
	}
	var target any
	switch c.typ {
	case typeDescribe:
		c.describe = &describeFacts{}
		target = c.describe
	case typeTriage:
		c.triage = &triageFacts{}
		target = c.triage
	case typeCloudTrail:
		c.cloudtrail = &cloudtrailFacts{}
		target = c.cloudtrail
	case typeRelated:
		c.related = &relatedFacts{}
		target = c.related
	case typeAcquire:
		c.acquire = &acquireFacts{}
		target = c.acquire
	case typeConsole:
		c.console = &consoleFacts{}
		target = c.console
	case typeMemory:
		c.memory = &memoryFacts{}
		target = c.memory
	default:
		var m map[string]json.RawMessage
		json.Unmarshal(raw, &m)
		c.keys = len(m)
		if c.typ == "" && c.err == "" {
			c.problem = "facts of a collector the configuration does not have, in a shape cordon does not recognise: digested, not read"
		}
		return c
	}
	// Unmarshal skips a field of the wrong JSON type and goes on; the
	// first such error is worth telling.
	if err := json.Unmarshal(raw, target); err != nil {
		c.problem = fmt.Sprintf("facts do not all fit the %s shape, some were skipped: %s", c.typ, shortErr(err))
	}
	return c
}

// shortErr is an error's text, bounded: a decoding error can quote input.
func shortErr(err error) string { return clean(err.Error(), 300) }

// summary says in a few words what a collector gathered, for the facts
// digest.
func (c *collectorFacts) summary() string {
	switch {
	case c.triage != nil:
		t := c.triage
		parts := []string{
			count(len(t.Processes), "process", "processes"),
			count(len(t.Connections), "connection", "connections"),
			count(len(t.Users), "logged-in user", "logged-in users"),
			count(len(t.Logins), "login", "logins"),
			count(len(t.Cron), "cron entry", "cron entries"),
			count(len(t.Files), "changed file", "changed files"),
			count(len(t.AuthorizedKeys), "authorized key", "authorized keys"),
		}
		if len(t.Skipped) > 0 {
			parts = append(parts, count(len(t.Skipped), "file not read", "files not read"))
		}
		s := strings.Join(parts, ", ")
		if t.Hostname != "" {
			s = clean(t.Hostname, 100) + ": " + s
		}
		if t.Truncated {
			s += " (truncated by the collector)"
		}
		return s
	case c.cloudtrail != nil:
		s := count(len(c.cloudtrail.Events), "event", "events")
		if c.cloudtrail.Truncated {
			s += " (truncated by the collector)"
		}
		return s
	case c.related != nil:
		return count(len(c.related.Findings), "other finding", "other findings")
	case c.acquire != nil:
		return count(len(c.acquire.Snapshots), "snapshot", "snapshots")
	case c.describe != nil:
		d := c.describe
		s := clean(d.InstanceID, 100)
		if d.State != "" {
			s += " " + clean(d.State, 40)
		}
		return strings.TrimSpace(s + ", " + count(len(d.Volumes), "volume", "volumes") + ", " +
			count(len(d.NetworkInterfaces), "network interface", "network interfaces"))
	case c.console != nil:
		var parts []string
		if c.console.Output != "" {
			parts = append(parts, "console output "+ui.ByteSize(int64(len(c.console.Output))))
		}
		if c.console.ScreenshotSHA256 != "" {
			parts = append(parts, "screenshot "+ui.ByteSize(c.console.ScreenshotBytes))
		}
		if c.console.ScreenshotError != "" {
			parts = append(parts, "no screenshot ("+clean(c.console.ScreenshotError, maxTitle)+")")
		}
		return strings.Join(parts, ", ")
	case c.memory != nil:
		m := c.memory
		return clean(fmt.Sprintf("%s memory image s3://%s/%s, %s", m.Tool, m.Bucket, m.Key, ui.ByteSize(m.SizeBytes)), maxDetail)
	}
	if c.keys > 0 {
		return count(c.keys, "key", "keys")
	}
	return ""
}

// SkippedFile is a file a triage did not read, or read only in part, and
// why; without Path, a section it left out. The script follows no
// symbolic link and opens only regular files, so a link where a file was
// expected (an authorized_keys pointing at /etc/shadow) is listed here
// with its Target, never read: a sign of tampering in itself. Path and
// Target come from the host, which is untrusted; they are cleaned.
type SkippedFile struct {
	// Section is the facts the file would have added to: authorized_keys,
	// cron, processes, files, logins, users, connections.
	Section string `json:"section"`
	Path    string `json:"path,omitempty"`
	// Reason is the script's: symlink, not_regular, too_large, timeout,
	// budget, unreadable or changed.
	Reason string `json:"reason"`
	// Target is where a symlink points, as the link names it.
	Target string `json:"target,omitempty"`
	// FileType is what a not_regular file is (fifo, socket, …).
	FileType string `json:"file_type,omitempty"`
	// Size is a too_large file's size in bytes.
	Size int64 `json:"size,omitempty"`
}

// maxSkipped bounds the skipped files a report lists per collector: a
// host can plant links by the thousand, and the count is kept
// (CollectorFacts.SkippedOmitted).
const maxSkipped = 200

// skipped is what the triage did not read, cleaned: links and files that
// are not regular first (they are evidence), then what a bound left out,
// each group in the script's order; at most maxSkipped, and how many more.
func (c *collectorFacts) skipped() ([]SkippedFile, int) {
	if c.triage == nil || len(c.triage.Skipped) == 0 {
		return nil, 0
	}
	out := make([]SkippedFile, 0, min(len(c.triage.Skipped), maxSkipped))
	for _, s := range c.triage.Skipped {
		out = append(out, SkippedFile{
			Section: clean(s.Section, 40), Path: clean(s.Path, maxTitle), Reason: clean(s.Reason, 40),
			Target: clean(s.Target, maxTitle), FileType: clean(s.FileType, 40), Size: max(s.Size, 0),
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].tampering() && !out[j].tampering() })
	if len(out) > maxSkipped {
		return out[:maxSkipped], len(out) - maxSkipped
	}
	return out, 0
}

// tampering tells a skip that is evidence of its own (a link or a special
// file where a file was expected) from one a bound made.
func (s *SkippedFile) tampering() bool { return s.Reason == "symlink" || s.Reason == "not_regular" }

// reasonText says in words why the file was not read (or read in part).
func (s *SkippedFile) reasonText() string {
	switch s.Reason {
	case "symlink":
		return "symbolic link, not followed"
	case "not_regular":
		if s.FileType != "" {
			return "not a regular file (" + strings.ReplaceAll(s.FileType, "_", " ") + ")"
		}
		return "not a regular file"
	case "too_large":
		if s.Size > 0 {
			return "too large (" + ui.ByteSize(s.Size) + "): read in part or not hashed"
		}
		return "too large: read in part or not hashed"
	case "timeout":
		return "reading it took too long"
	case "budget":
		return "the triage's time ran out"
	case "unreadable":
		return "unreadable"
	case "changed":
		return "changed while it was read"
	}
	return s.Reason
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
