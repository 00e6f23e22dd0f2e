package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// WriteJSON writes the report as an indented JSON document (its keys are
// documented on Report and its types; FormatVersion versions them).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// TextOptions control WriteText.
type TextOptions struct {
	// Color enables ANSI colour.
	Color bool
	// Indent prefixes every line.
	Indent string
}

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiCyan  = "\x1b[36m"
)

// WriteText writes the timeline for a terminal, one line per entry (its
// error, if any, on the next): time, source and title. Entry text was
// cleaned when the timeline was built, so no terminal escape in the facts
// reaches the terminal.
func (ev *Events) WriteText(w io.Writer, opts TextOptions) error {
	paint := func(code, s string) string {
		if !opts.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for i := range ev.Entries {
		e := &ev.Entries[i]
		when := "undated            "
		if !e.Time.IsZero() {
			when = e.Time.Format("2006-01-02 15:04:05")
		}
		mark := " "
		if e.Observed {
			mark = "~"
		}
		title := e.Title
		switch {
		case e.Source == SourceCordon && e.Error != "":
			title = paint(ansiRed, title)
		case e.Source == SourceCordon:
			title = paint(ansiBold, title)
		case e.Error != "":
			title = paint(ansiRed, title)
		}
		fmt.Fprintf(&b, "%s%s%s %s  %s\n", opts.Indent, paint(ansiDim, when), mark, paint(ansiCyan, fmt.Sprintf("%-11s", e.Source)), title)
		if e.Source == SourceCordon && e.Error != "" {
			fmt.Fprintf(&b, "%s%s  %s\n", opts.Indent, strings.Repeat(" ", 32), paint(ansiRed, e.Error))
		}
	}
	if ev.Omitted > 0 {
		fmt.Fprintf(&b, "%s… %d more entries omitted (%s)\n", opts.Indent, ev.Omitted, omittedText(ev.OmittedBySource))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// timeUTC formats a time for a report: 2025-03-14 02:11:07Z.
func timeUTC(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// WriteTimelineText writes r's timeline as compact text, one line per
// entry: time (UTC), source and title, sorted by time, cordon's own
// failures with their error on the next line; no colour. At most limit
// entries are written (every entry when limit <= 0): the finding's times,
// related findings, acquisitions and cordon's own entries first, then the
// CloudTrail and triage entries nearest the finding's activity window; a
// last line counts the entries left out, by source.
func WriteTimelineText(w io.Writer, r *Report, limit int) error {
	ev := r.Timeline
	if limit > 0 && len(ev.Entries) > limit {
		kept, omitted := bound(ev.Entries, limit, ev.WindowStart, ev.WindowEnd)
		slices.SortStableFunc(kept, compareEntries)
		by := make(map[Source]int, len(omitted)+len(ev.OmittedBySource))
		for s, n := range ev.OmittedBySource {
			by[s] += n
		}
		for s, n := range omitted {
			by[s] += n
		}
		ev.Omitted += len(ev.Entries) - len(kept)
		ev.OmittedBySource = by
		ev.Entries = kept
	}
	return ev.WriteText(w, TextOptions{})
}
