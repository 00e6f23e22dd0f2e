package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/cordonhq/cordon/internal/ui"
)

// WriteMarkdown writes the report as GitHub-flavoured Markdown, for a
// responder to paste into a ticket or read in a terminal. Every value from
// the finding or facts is escaped so it renders as the text it is: no raw
// HTML, no links, no table cell or paragraph broken by a pipe or a
// newline, and no terminal escape, bidi override or invisible character
// (mdText and mdCode pass values through ui.Safe first).
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	m := &mdWriter{b: &b}
	m.header(r)
	m.assessment(r)
	m.scope(r)
	m.timeline(r)
	m.actions(r)
	m.evidence(r)
	m.custody(r)
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", mdText(n))
		}
	}
	b.WriteString("\n---\n\n")
	footer := "Report of incident " + mdCode(r.Incident.ID, false) + " by cordon"
	if r.CordonVersion != "" {
		footer += " v" + mdText(r.CordonVersion)
	}
	if !r.GeneratedAt.IsZero() {
		footer += ", generated " + timeUTC(r.GeneratedAt)
	}
	b.WriteString("<sub>" + footer + ". All times are UTC.</sub>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type mdWriter struct{ b *strings.Builder }

func (m *mdWriter) printf(format string, args ...any) { fmt.Fprintf(m.b, format, args...) }

func (m *mdWriter) header(r *Report) {
	f := &r.Finding
	m.printf("# Incident %s: %s\n\n", mdText(r.Incident.ID), mdText(f.Type))
	var line []string
	if v := r.Verdict; v != nil {
		s := "**Verdict: " + mdText(strings.ToUpper(v.Verdict)) + "**"
		if v.Confidence != nil {
			s += fmt.Sprintf(" (confidence %.2f)", *v.Confidence)
		}
		line = append(line, s)
	} else {
		line = append(line, "**No verdict**")
	}
	if f.Severity != "" {
		s := "severity **" + mdText(f.Severity) + "**"
		if f.SeverityScore > 0 {
			s += fmt.Sprintf(" (%g)", f.SeverityScore)
		}
		line = append(line, s)
	}
	line = append(line, "status **"+mdText(r.Incident.Status)+"**")
	m.printf("%s\n\n", strings.Join(line, " · "))
	if f.Title != "" {
		m.printf("> %s\n\n", mdText(f.Title))
	}
	m.printf("| | |\n|---|---|\n")
	m.printf("| Finding | %s from %s |\n", mdCode(f.ID, true), mdText(f.Detector))
	res := mdCode(f.Resource.Type, true) + " " + mdCode(f.Resource.ID, true)
	if f.ResourceName != "" {
		res += " (" + mdText(f.ResourceName) + ")"
	}
	m.printf("| Resource | %s |\n", res)
	if f.Account != "" || f.Region != "" {
		m.printf("| Account, region | %s, %s |\n", mdText(f.Account), mdText(f.Region))
	}
	if !f.FirstSeen.IsZero() {
		s := timeUTC(f.FirstSeen)
		if !f.LastSeen.IsZero() && !f.LastSeen.Equal(f.FirstSeen) {
			s += " → " + timeUTC(f.LastSeen)
		}
		if f.Count > 0 {
			s += " (" + count(f.Count, "occurrence", "occurrences") + ")"
		}
		m.printf("| Activity | %s |\n", s)
	}
	if !f.CreatedAt.IsZero() {
		m.printf("| Reported | %s |\n", timeUTC(f.CreatedAt))
	}
	if !r.Incident.CreatedAt.IsZero() {
		m.printf("| Recorded by cordon | %s |\n", timeUTC(r.Incident.CreatedAt))
	}
	for _, mt := range r.Incident.Matches {
		m.printf("| Rule | %s in %s |\n", mdCode("rule."+mt.Rule, true), mdCode("scope."+mt.Scope, true))
	}
}

func (m *mdWriter) assessment(r *Report) {
	m.printf("\n## Assessment\n\n")
	if r.Summary != "" {
		m.printf("**Summary.** %s\n\n", mdText(r.Summary))
	}
	if r.RootCause != "" {
		m.printf("**Root cause.** %s\n\n", mdText(r.RootCause))
	}
	if r.Impact != "" {
		m.printf("**Impact.** %s\n\n", mdText(r.Impact))
	}
	if r.Finding.Description != "" {
		m.printf("**Finding.** %s\n\n", mdText(r.Finding.Description))
	}
	if len(r.Verdicts) == 0 {
		m.printf("No rule gave a verdict.\n")
		return
	}
	m.printf("### Verdicts\n\n")
	for _, v := range r.Verdicts {
		s := "- **" + mdText(v.Verdict) + "** by " + mdCode("rule."+v.Rule, false)
		if v.Confidence != nil {
			s += fmt.Sprintf(", confidence %.2f", *v.Confidence)
		}
		m.printf("%s\n", s)
		for _, reason := range v.Reasons {
			m.printf("  - %s\n", mdText(reason))
		}
	}
}

func (m *mdWriter) scope(r *Report) {
	s := &r.Scope
	m.printf("\n## Scope\n\n")
	m.printf("| Resource | Type | Known from | |\n|---|---|---|---|\n")
	for _, res := range s.Resources {
		id := mdCode(res.ID, true)
		if res.Primary {
			id = "**" + id + "** (primary)"
		}
		extra := mdText(res.Name)
		if res.Note != "" {
			extra = strings.TrimSpace(extra + " " + mdText(res.Note))
		}
		m.printf("| %s | %s | %s | %s |\n", id, mdCode(res.Type, true), mdText(strings.Join(res.Via, ", ")), extra)
	}
	if len(s.RelatedFindings) > 0 {
		m.printf("\n### Other findings on these resources\n\n")
		m.printf("| Updated | Type | Severity | Title |\n|---|---|---|---|\n")
		for _, f := range s.RelatedFindings {
			sev := mdText(f.Severity)
			if f.SeverityScore != nil {
				sev += fmt.Sprintf(" (%g)", *f.SeverityScore)
			}
			m.printf("| %s | %s | %s | %s |\n", timeUTC(f.UpdatedAt), mdCode(f.Type, true), sev, mdText(f.Title))
		}
	}
	if len(s.Indicators) > 0 {
		m.printf("\n### Indicators\n\n")
		m.printf("| Indicator | Kind | Seen in |\n|---|---|---|\n")
		for _, in := range s.Indicators {
			m.printf("| %s | %s | %s |\n", mdCode(in.Value, true), mdText(in.Kind), mdText(strings.Join(in.Seen, "; ")))
		}
	}
}

func (m *mdWriter) timeline(r *Report) {
	t := &r.Timeline
	m.printf("\n## Timeline\n\n")
	if len(t.Entries) == 0 {
		m.printf("Nothing with a time was recorded.\n")
		return
	}
	counts := t.Count()
	var parts []string
	for _, s := range Sources() {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s.Label(), counts[s]))
		}
	}
	m.printf("%s (%s).", count(len(t.Entries), "entry", "entries"), strings.Join(parts, ", "))
	if t.Omitted > 0 {
		m.printf(" %d more were left out, the furthest from the finding's activity: %s.", t.Omitted, omittedText(t.OmittedBySource))
	}
	m.printf(" Times marked ~ are when the triage observed an item that has no time of its own.\n\n")
	m.printf("| Time (UTC) | Source | Event | Details |\n|---|---|---|---|\n")
	for i := range t.Entries {
		e := &t.Entries[i]
		when := "undated"
		if !e.Time.IsZero() {
			when = e.Time.Format("2006-01-02 15:04:05")
		}
		if e.Observed {
			when = "~" + when
		}
		title := mdText(e.Title)
		if e.Source == SourceCordon {
			title = "**" + title + "**"
		}
		if e.Error != "" && e.Source == SourceCordon {
			title += " ⚠ " + mdText(e.Error)
		}
		m.printf("| %s | %s | %s | %s |\n", when, mdText(e.Source.Label()), title, mdFields(e.Details))
	}
}

// mdFields shows an entry's details in one table cell.
func mdFields(fs Fields) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		v := f.Value
		if len(v) > 240 {
			v = clean(v, 240)
		}
		parts = append(parts, mdText(f.Name)+": "+mdCode(v, true))
	}
	return strings.Join(parts, " · ")
}

func (m *mdWriter) actions(r *Report) {
	m.printf("\n## Response actions\n\n")
	if len(r.Actions) == 0 {
		m.printf("cordon took no action.\n")
		return
	}
	m.printf("| # | Action | Kind | Phase | Result | Started | Finished |\n|---|---|---|---|---|---|---|\n")
	for i, a := range r.Actions {
		fin := ""
		if a.FinishedAt != nil {
			fin = timeUTC(*a.FinishedAt)
		}
		m.printf("| %d | %s | %s | %s | %s | %s | %s |\n", i+1, mdCode(a.Address, true), mdText(string(a.Kind)), mdText(a.Phase),
			resultMark(a), timeUTC(a.StartedAt), fin)
	}
	for i, a := range r.Actions {
		verb := "Applied"
		if a.Kind == "revert" {
			verb = "Reverted"
		}
		m.printf("\n### %d. %s %s: %s\n\n", i+1, verb, mdCode(a.Address, false), mdText(string(a.Result)))
		m.printf("%s · phase %s · target %s %s (%s, %s)\n", mdCode(a.Type, false), mdText(a.Phase),
			mdCode(a.Target.Type, false), mdCode(a.Target.ID, false), mdText(a.Target.Account), mdText(a.Target.Region))
		if a.RevertOf != 0 {
			m.printf("· reverts record #%d\n", a.RevertOf)
		}
		if a.Error != "" {
			m.printf("\n> **Error:** %s\n", mdText(a.Error))
		}
		if len(a.Changes) == 0 {
			m.printf("\nNo attribute changed.\n")
			continue
		}
		m.printf("\n| Attribute | Before | After |\n|---|---|---|\n")
		for _, c := range a.Changes {
			m.printf("| %s | %s | %s |\n", mdText(c.Attribute), mdCode(compactValue(c.Before, 400), true), mdCode(compactValue(c.After, 400), true))
		}
	}
}

func resultMark(a Action) string {
	switch a.Result {
	case "applied", "recovered":
		return "✅ " + string(a.Result)
	case "no_change":
		return "➖ no change"
	case "failed", "interrupted":
		return "❌ " + string(a.Result)
	case "drifted", "skipped":
		return "⚠️ " + string(a.Result)
	}
	return mdText(string(a.Result))
}

func (m *mdWriter) evidence(r *Report) {
	m.printf("\n## Evidence\n\n")
	m.printf("### Facts: chain of custody\n\n")
	if r.Facts.SHA256 != "" {
		m.printf("Incident facts SHA-256 %s%s.\n\n", mdCode(r.Facts.SHA256, false), verifiedText(r.Facts.Verified))
	}
	if len(r.Facts.Collectors) == 0 {
		m.printf("No collector gathered facts.\n")
	} else {
		m.printf("| Collector | Type | SHA-256 | Size | Contents |\n|---|---|---|---|---|\n")
		for _, c := range r.Facts.Collectors {
			typ := mdCode(c.Type, true)
			if c.Type == "" {
				typ = "unknown"
			} else if c.TypeInferred {
				typ += " (recognised)"
			}
			contents := mdText(c.Summary)
			if c.Error != "" {
				contents = "❌ failed: " + mdText(c.Error)
			}
			digest := ""
			if c.SHA256 != "" {
				digest = mdCode(c.SHA256, true) + verifiedText(c.Verified)
			}
			size := ""
			if c.Size > 0 {
				size = ui.ByteSize(c.Size)
			}
			m.printf("| %s | %s | %s | %s | %s |\n", mdCode(c.Name, true), typ, digest, size, contents)
		}
		m.skippedFiles(r.Facts.Collectors)
	}
	if len(r.Evidence.Snapshots) > 0 {
		m.printf("\n### Disk snapshots\n\n")
		m.printf("| Snapshot | Volume | Device | State | Started | Taken by |\n|---|---|---|---|---|---|\n")
		for _, s := range r.Evidence.Snapshots {
			m.printf("| %s | %s | %s | %s | %s | %s |\n", mdCode(s.SnapshotID, true), mdCode(s.VolumeID, true), mdText(s.Device),
				mdText(s.State), timeUTC(s.StartedAt), mdText(strings.Join(s.TakenBy, ", ")))
		}
	}
	if len(r.Evidence.Screenshots)+len(r.Evidence.ScreenshotErrors) > 0 {
		m.printf("\n### Console screenshots\n\n")
		for _, s := range r.Evidence.Screenshots {
			of := ""
			if s.InstanceID != "" {
				of = " of " + mdCode(s.InstanceID, false)
			}
			typ := ""
			if s.ContentType != "" {
				typ = mdText(s.ContentType) + ", "
			}
			shown := "shown in the HTML report"
			if s.Image == nil {
				shown = "not shown"
			}
			m.printf("- %s%s, %s%s, SHA-256 %s%s; %s.\n", mdCode(s.Name, false), of, typ, ui.ByteSize(s.Size), mdCode(s.SHA256, false), verifiedText(s.Verified), shown)
		}
		for _, e := range r.Evidence.ScreenshotErrors {
			m.printf("- Not taken by %s: %s\n", mdCode(e.Collector, false), mdText(e.Error))
		}
	}
	if len(r.Evidence.Other) > 0 {
		m.printf("\n### Other evidence\n\n")
		for _, a := range r.Evidence.Other {
			m.printf("- %s %s, %s", mdText(a.Kind), mdCode(a.Name, false), ui.ByteSize(a.Size))
			if a.SHA256 != "" {
				m.printf(", SHA-256 %s%s", mdCode(a.SHA256, false), verifiedText(a.Verified))
			}
			m.printf("\n")
		}
	}
}

// skippedFiles lists, for each triage that has them, the files it did not
// read, links and special files first.
func (m *mdWriter) skippedFiles(cs []CollectorFacts) {
	for _, c := range cs {
		if len(c.Skipped) == 0 {
			continue
		}
		m.printf("\n### Files the triage %s did not read\n\n", mdCode(c.Name, false))
		m.printf("The triage follows no symbolic link and opens only regular files, each within a size and a time bound. " +
			"A link where a file was expected (an `authorized_keys` pointing elsewhere) is itself a sign of tampering; its target was never read.\n\n")
		m.printf("| Path | Reason | Target | Section |\n|---|---|---|---|\n")
		for _, s := range c.Skipped {
			path := "*the whole section*"
			if s.Path != "" {
				path = mdCode(s.Path, true)
			}
			reason := mdText(s.reasonText())
			if s.tampering() {
				reason = "⚠ " + reason
			}
			m.printf("| %s | %s | %s | %s |\n", path, reason, mdCode(s.Target, true), mdText(s.Section))
		}
		if c.SkippedOmitted > 0 {
			m.printf("\n… %d more not shown (the facts list them all).\n", c.SkippedOmitted)
		}
	}
}

// custody is the custody log: each entry, and the chain head.
func (m *mdWriter) custody(r *Report) {
	c := &r.Custody
	m.printf("\n## Chain of custody\n\n")
	if len(c.Entries) == 0 {
		m.printf("No custody entries were recorded.\n")
		if c.Break != nil {
			m.printf("\n> **Broken:** %s: %s\n", mdText(string(c.Break.Problem)), mdText(c.Break.Detail))
		}
		return
	}
	m.printf("Chain head %s (%s)%s.", mdCode(c.Head, false), count(len(c.Entries), "entry", "entries"), verifiedText(c.Verified))
	m.printf(" Each entry's hash covers the entry and the hash of the entry before it; %s checks that the chain still holds this head.\n",
		mdCode("cordon state verify "+r.Incident.ID+" -head "+c.Head, false))
	if b := c.Break; b != nil {
		where := fmt.Sprintf("entry %d", b.Seq)
		if b.Seq == 0 {
			where = fmt.Sprintf("evidence record %d", b.EvidenceID)
		}
		m.printf("\n> **Broken at %s** (%s %s): %s: %s\n", where, mdText(b.Kind), mdCode(b.Name, false), mdText(string(b.Problem)), mdText(b.Detail))
	}
	m.printf("\n| # | Kind | Name | SHA-256 | Size | Recorded | Hash |\n|---|---|---|---|---|---|---|\n")
	for _, e := range c.Entries {
		size := ""
		if e.SHA256 != "" || e.Size > 0 {
			size = ui.ByteSize(e.Size)
		}
		m.printf("| %d | %s | %s | %s | %s | %s | %s |\n", e.Seq, mdText(e.Kind), mdCode(e.Name, true), mdCode(e.SHA256, true),
			size, timeUTC(e.At), mdCode(e.Hash, true))
	}
}

func verifiedText(v *bool) string {
	switch {
	case v == nil:
		return ""
	case *v:
		return " ✔ verified"
	}
	return " ✘ DOES NOT MATCH"
}

// mdText escapes text for Markdown: control, bidi and line-breaking
// characters become visible escapes (ui.Safe), so a value stays on its
// line, in its table cell; then every character that could start markup
// (emphasis, links, HTML, entities, headings inside list items, table
// pipes) is backslash-escaped, which CommonMark allows for any ASCII
// punctuation.
func mdText(s string) string {
	s = ui.Safe(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '~', '&', '#', '!':
			b.WriteByte('\\')
		case '-', '+', '=':
			if i == 0 {
				b.WriteByte('\\')
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// mdCode shows s as an inline code span, with a fence longer than any run
// of backticks in it, after ui.Safe (a code span cannot hold a newline).
// In a table cell pipes must still be escaped: GFM splits cells before it
// reads code spans.
func mdCode(s string, inTable bool) string {
	s = ui.Safe(s)
	if s == "" {
		return ""
	}
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	if s[0] == '`' || s[len(s)-1] == '`' || s[0] == ' ' || s[len(s)-1] == ' ' {
		s = " " + s + " "
	}
	return fence + s + fence
}
