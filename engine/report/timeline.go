package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// Source is where a timeline entry comes from.
type Source string

// Timeline sources, in the order reports list them.
const (
	// SourceFinding: the finding's own times (first and last seen,
	// created, updated).
	SourceFinding Source = "finding"
	// SourceRelated: other GuardDuty findings on the resource
	// (aws_guardduty_related).
	SourceRelated Source = "related"
	// SourceCloudTrail: API calls CloudTrail recorded
	// (aws_cloudtrail_events).
	SourceCloudTrail Source = "cloudtrail"
	// SourceTriage: what the host showed (aws_ssm_triage): process
	// starts, logins, sessions, changed files, cron entries, SSH keys.
	SourceTriage Source = "triage"
	// SourceAcquisition: evidence acquisition (aws_ebs_acquire snapshots).
	SourceAcquisition Source = "acquisition"
	// SourceCordon: cordon's own record and actions, applied and reverted.
	SourceCordon Source = "cordon"
)

// Sources returns every source in display order.
func Sources() []Source {
	return []Source{SourceFinding, SourceRelated, SourceCloudTrail, SourceTriage, SourceAcquisition, SourceCordon}
}

// Label is the source's name for people.
func (s Source) Label() string {
	switch s {
	case SourceFinding:
		return "Finding"
	case SourceRelated:
		return "Related findings"
	case SourceCloudTrail:
		return "CloudTrail"
	case SourceTriage:
		return "Host triage"
	case SourceAcquisition:
		return "Acquisition"
	case SourceCordon:
		return "cordon"
	}
	return string(s)
}

func (s Source) rank() int {
	if i := slices.Index(Sources(), s); i >= 0 {
		return i
	}
	return len(Sources())
}

// Entry is one event on an incident's timeline.
type Entry struct {
	// Time is when it happened, in UTC; zero for an undated entry (one
	// whose source gives no time and no collection time either).
	Time time.Time `json:"time,omitzero"`
	// Observed is set when the source gives no time of its own (a cron
	// entry, an authorized SSH key): Time is then when the triage
	// observed it, its collected_at, not when it was made.
	Observed bool   `json:"observed,omitempty"`
	Source   Source `json:"source"`
	// Kind says what the entry is, within its source: finding.first_seen,
	// api_call, process.start, login, session, file.change, cron,
	// authorized_key, triage.collected, finding.related, snapshot,
	// incident.recorded, action.apply, action.revert.
	Kind string `json:"kind"`
	// Collector is the name of the collector block whose facts gave the
	// entry.
	Collector string `json:"collector,omitempty"`
	Title     string `json:"title"`
	Details   Fields `json:"details,omitempty"`
	// Result is a cordon action's result (applied, failed, …).
	Result string `json:"result,omitempty"`
	// Error is a failed action's error or a failed API call's error code.
	Error string `json:"error,omitempty"`

	seq int // insertion order, the last tie-breaker
}

// Events is an incident's timeline: its entries sorted by time (undated
// ones last), bounded to a limit.
type Events struct {
	Entries []Entry `json:"entries"`
	// Total counts the entries before bounding; Omitted those left out.
	Total   int `json:"total"`
	Omitted int `json:"omitted"`
	// OmittedBySource counts the omitted entries by source.
	OmittedBySource map[Source]int `json:"omitted_by_source,omitempty"`
	// Start and End are the earliest and latest entry times (zero when
	// no entry has a time). WindowStart and WindowEnd bound the
	// finding's activity (first and last seen, else created and updated).
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
}

// DefaultLimit bounds a timeline. Triage of a busy host lists thousands of
// processes; a report is for people.
const DefaultLimit = 2000

// Count returns how many of the entries come from each source.
func (ev *Events) Count() map[Source]int {
	out := map[Source]int{}
	for i := range ev.Entries {
		out[ev.Entries[i].Source]++
	}
	return out
}

// Timeline builds an incident's timeline from what state recorded: the
// finding's own times, the facts of its collectors (CloudTrail events,
// triage, other findings, acquisitions) and cordon's actions. Facts are
// read by collector type: collectorTypes maps collector block names to
// their type (the configuration's collectors); a name it lacks (the
// configuration changed since) is recognised by its facts' shape.
//
// At most limit entries are kept (DefaultLimit when limit <= 0). The
// finding's times, related findings, acquisitions and cordon's actions are
// always kept; of the CloudTrail and triage entries, those nearest the
// finding's activity window are kept, and the rest counted as omitted.
func Timeline(d *state.IncidentDetail, collectorTypes map[string]string, limit int) Events {
	f := decodeFinding(d.Incident.FindingData)
	facts, _ := decodeFacts(d.Incident.Facts, collectorTypes)
	return buildTimeline(d, f, facts, limit)
}

func buildTimeline(d *state.IncidentDetail, f *findingData, facts []*collectorFacts, limit int) Events {
	if limit <= 0 {
		limit = DefaultLimit
	}
	var b timelineBuilder
	if f != nil {
		b.finding(f)
	}
	for _, c := range facts {
		switch {
		case c.cloudtrail != nil:
			b.cloudtrail(c)
		case c.triage != nil:
			b.triage(c)
		case c.related != nil:
			b.related(c)
		case c.acquire != nil:
			b.acquire(c)
		}
	}
	b.cordon(d)

	ev := Events{Total: len(b.entries)}
	if f != nil {
		ev.WindowStart, ev.WindowEnd = f.window()
	}
	entries := b.entries
	if len(entries) > limit {
		entries, ev.OmittedBySource = bound(entries, limit, ev.WindowStart, ev.WindowEnd)
		ev.Omitted = ev.Total - len(entries)
	}
	slices.SortStableFunc(entries, compareEntries)
	ev.Entries = entries
	for _, e := range entries {
		if e.Time.IsZero() {
			continue
		}
		if ev.Start.IsZero() || e.Time.Before(ev.Start) {
			ev.Start = e.Time
		}
		if e.Time.After(ev.End) {
			ev.End = e.Time
		}
	}
	if ev.Entries == nil {
		ev.Entries = []Entry{}
	}
	return ev
}

// compareEntries orders by time, undated last, then by source and by the
// order the entries were found.
func compareEntries(a, b Entry) int {
	if az, bz := a.Time.IsZero(), b.Time.IsZero(); az != bz {
		if az {
			return 1
		}
		return -1
	}
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Source.rank(), b.Source.rank()); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// pinned reports whether an entry is always kept: there are few of them
// and each matters.
func (e *Entry) pinned() bool {
	return e.Source != SourceCloudTrail && e.Source != SourceTriage
}

// bound keeps limit entries: the pinned ones first, then those nearest the
// activity window [start, end] (undated ones last). It returns the entries
// kept and the count omitted per source.
func bound(entries []Entry, limit int, start, end time.Time) ([]Entry, map[Source]int) {
	distance := func(e *Entry) time.Duration {
		switch {
		case e.Time.IsZero():
			return 1<<63 - 1
		case start.IsZero():
			return 0
		case e.Time.Before(start):
			return start.Sub(e.Time)
		case !end.IsZero() && e.Time.After(end):
			return e.Time.Sub(end)
		}
		return 0
	}
	ranked := slices.Clone(entries)
	slices.SortStableFunc(ranked, func(a, b Entry) int {
		if ap, bp := a.pinned(), b.pinned(); ap != bp {
			if ap {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(distance(&a), distance(&b)); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	omitted := map[Source]int{}
	for _, e := range ranked[limit:] {
		omitted[e.Source]++
	}
	return ranked[:limit], omitted
}

type timelineBuilder struct {
	entries []Entry
	// snapshots are the snapshot ids on the timeline: an action that
	// found the collector's snapshots and took none reports the same ids.
	snapshots map[string]bool
}

func (b *timelineBuilder) add(e Entry) {
	e.Title = clean(e.Title, maxTitle)
	e.seq = len(b.entries)
	b.entries = append(b.entries, e)
}

func (b *timelineBuilder) finding(f *findingData) {
	who := f.detector()
	if !f.FirstSeen.IsZero() {
		title := who + " first saw the activity"
		var det fieldList
		if f.LastSeen.Equal(f.FirstSeen) {
			title = who + " saw the activity"
			if f.Count > 0 {
				det.add("count", count(f.Count, "occurrence", "occurrences"))
			}
		}
		b.add(Entry{Time: f.FirstSeen, Source: SourceFinding, Kind: "finding.first_seen", Title: title, Details: Fields(det)})
	}
	if !f.LastSeen.IsZero() && !f.LastSeen.Equal(f.FirstSeen) {
		var det fieldList
		if f.Count > 0 {
			det.add("count", count(f.Count, "occurrence", "occurrences"))
		}
		b.add(Entry{Time: f.LastSeen, Source: SourceFinding, Kind: "finding.last_seen", Title: who + " last saw the activity", Details: Fields(det)})
	}
	if !f.CreatedAt.IsZero() {
		var det fieldList
		det.add("finding", f.ID)
		det.add("type", f.Type)
		det.add("severity", f.Severity)
		det.add("title", f.Title)
		b.add(Entry{Time: f.CreatedAt, Source: SourceFinding, Kind: "finding.created", Title: who + " reported the finding", Details: Fields(det)})
	}
	if !f.UpdatedAt.IsZero() && !f.UpdatedAt.Equal(f.CreatedAt) {
		b.add(Entry{Time: f.UpdatedAt, Source: SourceFinding, Kind: "finding.updated", Title: who + " last updated the finding"})
	}
}

func (b *timelineBuilder) cloudtrail(c *collectorFacts) {
	for _, e := range c.cloudtrail.Events {
		name := cmp.Or(e.EventName, "API call")
		title := name
		if e.User != "" {
			title += " by " + e.User
		}
		if e.SourceIP != "" {
			title += " from " + e.SourceIP
		}
		if e.ErrorCode != "" {
			title += ": " + e.ErrorCode
		}
		var det fieldList
		det.add("event_source", e.EventSource)
		det.add("user", e.User)
		det.add("access_key_id", e.AccessKeyID)
		det.add("source_ip", e.SourceIP)
		det.add("user_agent", e.UserAgent)
		if len(e.Resources) > 0 {
			var names []string
			for _, r := range e.Resources {
				if ref, ok := trailResource(r); ok {
					names = append(names, ref.ID)
				}
			}
			det.add("resources", strings.Join(names, ", "))
		}
		if e.ReadOnly != nil {
			det.add("read_only", fmt.Sprint(*e.ReadOnly))
		}
		if e.Time.t.IsZero() {
			det.add("time", e.Time.raw)
		}
		b.add(Entry{Time: e.Time.t, Source: SourceCloudTrail, Kind: "api_call", Collector: c.name,
			Title: title, Details: Fields(det), Error: clean(e.ErrorCode, maxTitle)})
	}
}

func (b *timelineBuilder) triage(c *collectorFacts) {
	t := c.triage
	collected := t.CollectedAt.t
	if !collected.IsZero() {
		var det fieldList
		det.add("hostname", t.Hostname)
		det.add("kernel", t.Kernel)
		det.add("contents", c.summary())
		title := "Triage collected"
		if t.Hostname != "" {
			title += " on " + t.Hostname
		}
		b.add(Entry{Time: collected, Source: SourceTriage, Kind: "triage.collected", Collector: c.name, Title: title, Details: Fields(det)})
	}
	for _, p := range t.Processes {
		name := cmp.Or(p.Name, p.Exe, "process")
		title := fmt.Sprintf("Process %s (pid %d) started", name, p.PID)
		if p.User != "" {
			title += " as " + p.User
		}
		var det fieldList
		det.add("exe", p.Exe)
		det.add("cmdline", p.Cmdline)
		det.addInt("pid", p.PID)
		det.addInt("ppid", p.PPID)
		det.add("user", p.User)
		det.add("sha256", p.SHA256)
		if conns := connectionsOf(t, p.PID); conns != "" {
			det.add("connections", conns)
		}
		if p.StartTime.t.IsZero() {
			det.add("start_time", p.StartTime.raw)
		}
		b.add(Entry{Time: p.StartTime.t, Source: SourceTriage, Kind: "process.start", Collector: c.name, Title: title, Details: Fields(det)})
	}
	for _, l := range t.Logins {
		var title string
		switch {
		case l.Success != nil && !*l.Success:
			title = "Failed login as " + cmp.Or(l.User, "unknown user")
		default:
			title = "Login as " + cmp.Or(l.User, "unknown user")
		}
		if l.From != "" {
			title += " from " + l.From
		}
		var det fieldList
		det.add("user", l.User)
		det.add("from", l.From)
		if l.Success != nil {
			det.add("success", fmt.Sprint(*l.Success))
		}
		entry := Entry{Time: l.Time.t, Source: SourceTriage, Kind: "login", Collector: c.name, Title: title, Details: Fields(det)}
		if l.Success != nil && !*l.Success {
			entry.Kind = "login.failed"
		}
		b.add(entry)
	}
	for _, u := range t.Users {
		title := cmp.Or(u.Name, "unknown user") + " logged in"
		if u.TTY != "" {
			title += " on " + u.TTY
		}
		if u.From != "" {
			title += " from " + u.From
		}
		title += " (still logged in at triage)"
		var det fieldList
		det.add("user", u.Name)
		det.add("tty", u.TTY)
		det.add("from", u.From)
		b.add(Entry{Time: u.LoginTime.t, Source: SourceTriage, Kind: "session", Collector: c.name, Title: title, Details: Fields(det)})
	}
	for _, f := range t.Files {
		var det fieldList
		det.add("path", f.Path)
		if f.Size > 0 {
			det.add("size", ui.ByteSize(f.Size))
		}
		det.add("sha256", f.SHA256)
		b.add(Entry{Time: f.MTime.t, Source: SourceTriage, Kind: "file.change", Collector: c.name, Title: "File changed: " + f.Path, Details: Fields(det)})
	}
	// Cron entries and authorized keys carry no time of their own: they
	// are placed when the triage saw them, marked as observed.
	for _, cr := range t.Cron {
		var det fieldList
		det.add("user", cr.User)
		det.add("schedule", cr.Schedule)
		det.add("command", cr.Command)
		det.add("source", cr.Source)
		title := "Cron entry"
		if cr.User != "" {
			title += " of " + cr.User
		}
		title += ": " + strings.TrimSpace(cr.Schedule+" "+cr.Command)
		b.add(Entry{Time: collected, Observed: true, Source: SourceTriage, Kind: "cron", Collector: c.name, Title: title, Details: Fields(det)})
	}
	for _, k := range t.AuthorizedKeys {
		var det fieldList
		det.add("user", k.User)
		det.add("key", keyDigest(k.Key))
		det.add("comment", k.Comment)
		title := "Authorized SSH key"
		if k.User != "" {
			title += " of " + k.User
		}
		if k.Comment != "" {
			title += ": " + k.Comment
		}
		b.add(Entry{Time: collected, Observed: true, Source: SourceTriage, Kind: "authorized_key", Collector: c.name, Title: title, Details: Fields(det)})
	}
}

// connectionsOf lists the connections of process pid, briefly.
func connectionsOf(t *triageFacts, pid int64) string {
	if pid == 0 {
		return ""
	}
	var out []string
	for _, c := range t.Connections {
		if c.PID != pid || len(out) == 8 {
			continue
		}
		s := strings.ToLower(c.Protocol)
		switch {
		case c.RemoteIP != "" && c.RemoteIP != "0.0.0.0" && c.RemoteIP != "::" && c.RemoteIP != "*":
			s += fmt.Sprintf(" %s:%d → %s:%d", c.LocalIP, c.LocalPort, c.RemoteIP, c.RemotePort)
		default:
			s += fmt.Sprintf(" %s:%d", c.LocalIP, c.LocalPort)
		}
		if c.State != "" {
			s += " " + c.State
		}
		out = append(out, strings.TrimSpace(s))
	}
	return strings.Join(out, "; ")
}

// keyDigest shortens an SSH public key to its type and the ends of its
// base64 body, which is how people compare keys by eye.
func keyDigest(key string) string {
	f := strings.Fields(key)
	switch {
	case len(f) >= 2 && len(f[1]) > 24:
		return f[0] + " " + f[1][:12] + "…" + f[1][len(f[1])-12:]
	case len(key) > 60:
		return key[:60] + "…"
	}
	return key
}

func (b *timelineBuilder) related(c *collectorFacts) {
	for _, f := range c.related.Findings {
		title := "Related finding " + cmp.Or(f.Type, f.ID)
		if f.Severity != "" {
			title += " (" + f.Severity + ")"
		}
		var det fieldList
		det.add("finding", f.ID)
		det.add("title", f.Title)
		det.add("severity", f.Severity)
		if f.SeverityScore != nil {
			det.add("severity_score", fmt.Sprint(*f.SeverityScore))
		}
		b.add(Entry{Time: f.UpdatedAt.t, Source: SourceRelated, Kind: "finding.related", Collector: c.name, Title: title, Details: Fields(det)})
	}
}

func (b *timelineBuilder) acquire(c *collectorFacts) {
	for _, s := range c.acquire.Snapshots {
		b.snapshot(s, c.name, "")
	}
}

// snapshot adds a disk snapshot's start, taken by a collector (named) or
// by an action (its address).
func (b *timelineBuilder) snapshot(s snapshotFacts, collector, action string) {
	if s.SnapshotID != "" {
		if b.snapshots[s.SnapshotID] {
			return
		}
		if b.snapshots == nil {
			b.snapshots = map[string]bool{}
		}
		b.snapshots[s.SnapshotID] = true
	}
	title := "Snapshot " + cmp.Or(s.SnapshotID, "(no id)") + " of " + cmp.Or(s.VolumeID, "a volume")
	if s.Device != "" {
		title += " (" + s.Device + ")"
	}
	title += " started"
	var det fieldList
	det.add("snapshot_id", s.SnapshotID)
	det.add("volume_id", s.VolumeID)
	det.add("device", s.Device)
	det.add("state", s.State)
	det.add("by", action)
	b.add(Entry{Time: s.StartedAt.t, Source: SourceAcquisition, Kind: "snapshot", Collector: collector, Title: title, Details: Fields(det)})
}

func (b *timelineBuilder) cordon(d *state.IncidentDetail) {
	inc := &d.Incident
	if !inc.CreatedAt.IsZero() {
		title := "cordon recorded incident " + inc.ID
		if v := headline(inc.Verdicts); v != nil {
			title += ": verdict " + v.Verdict
		}
		var det fieldList
		for _, m := range inc.Matches {
			det.add("rule", "rule."+m.Rule+" in scope."+m.Scope)
		}
		b.add(Entry{Time: inc.CreatedAt.UTC(), Source: SourceCordon, Kind: "incident.recorded", Title: title, Details: Fields(det)})
	}
	byID := map[int64]*state.ActionRecord{}
	for i := range d.Actions {
		byID[d.Actions[i].ID] = &d.Actions[i]
	}
	for i := range d.Actions {
		a := &d.Actions[i]
		var title, kind string
		if a.Kind == state.KindRevert {
			kind = "action.revert"
			title = "Revert of " + a.Address + ": " + string(a.Result)
		} else {
			kind = "action.apply"
			title = a.Address + ": " + string(a.Result)
		}
		var det fieldList
		det.add("type", a.Type)
		det.add("phase", a.Phase)
		det.add("target", a.Target.Type+" "+a.Target.ID)
		if ch := changeSummary(changes(a.Before, a.After)); ch != "" {
			det.add("change", ch)
		}
		if a.FinishedAt != nil {
			det.add("finished", a.FinishedAt.UTC().Format(time.RFC3339))
		}
		b.add(Entry{Time: a.StartedAt.UTC(), Source: SourceCordon, Kind: kind, Title: title,
			Details: Fields(det), Result: string(a.Result), Error: clean(a.Error, maxDetail)})
		// Snapshots an action took (aws_ec2_snapshot records them in its
		// after-state, in the aws_ebs_acquire shape) are acquisitions too.
		if a.Kind == state.KindApply && len(a.After) > 0 {
			var after struct {
				Snapshots []snapshotFacts `json:"snapshots"`
			}
			if json.Unmarshal(a.After, &after) == nil {
				for _, s := range after.Snapshots {
					if !s.StartedAt.t.IsZero() {
						b.snapshot(s, "", clean(a.Address, maxTitle))
					}
				}
			}
		}
	}
	// The daemon's events: recurrences of the finding, plans held for
	// approval and the decisions on them.
	for _, ev := range d.Events {
		var det fieldList
		var detail map[string]any
		if json.Unmarshal(ev.Detail, &detail) == nil {
			for _, k := range sortedKeys(detail) {
				det.add(k, clean(fmt.Sprint(detail[k]), maxDetail))
			}
		}
		b.add(Entry{Time: ev.At.UTC(), Source: SourceCordon, Kind: "incident." + ev.Kind, Title: clean(ev.Summary, maxTitle), Details: Fields(det)})
	}
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// changeSummary is a one-line before → after of the attributes an action
// changed.
func changeSummary(cs []Change) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Attribute+": "+compactValue(c.Before, 80)+" → "+compactValue(c.After, 80))
	}
	return strings.Join(parts, "; ")
}

// compactValue shows a JSON value on one line, bounded.
func compactValue(v json.RawMessage, max int) string {
	if len(v) == 0 {
		return "(unset)"
	}
	return clean(string(v), max)
}
