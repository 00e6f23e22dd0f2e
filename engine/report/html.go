package report

import (
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/internal/ui"
)

// The HTML report is one file: the stylesheet and script below are inlined,
// the screenshot is a data: URI, and the Content-Security-Policy forbids
// every fetch (default-src 'none') and every script but this one (by its
// hash), so a value that escaped escaping still could not run or phone
// home. It is written by htmlWriter (html_writer.go), one method per
// section of the page.

//go:embed assets/report.css
var htmlCSS string

//go:embed assets/report.js
var htmlJS string

// scriptHash is the CSP source of the inline script.
var scriptHash = func() string {
	sum := sha256.Sum256([]byte(htmlJS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// ContentSecurityPolicy is the policy the HTML report declares: nothing
// may be fetched; only its own script runs; images only from data: URIs.
var ContentSecurityPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src " + scriptHash +
	"; base-uri 'none'; form-action 'none'"

func verdictClass(v string) string {
	switch v {
	case "malicious", "suspicious", "benign", "inconclusive":
		return v
	}
	return "unknown"
}

func resultClass(r string) string {
	switch r {
	case "applied", "recovered":
		return "ok"
	case "no_change":
		return "neutral"
	case "failed", "interrupted":
		return "bad"
	case "drifted", "skipped", "started":
		return "warn"
	}
	return "neutral"
}

// WriteHTML writes the report as one self-contained HTML file with a visual
// timeline: an overview strip of the whole incident, then every entry on a
// vertical time axis, coloured by source, with filter toggles and a text
// filter (keyboard accessible), cordon's actions highlighted. It fetches
// nothing and prints readably.
func (r *Report) WriteHTML(w io.Writer) error {
	p := &htmlPage{r: r, f: &r.Finding}
	p.head()
	p.header()
	p.assessment()
	p.timeline()
	p.scope()
	p.actions()
	p.evidence()
	p.custody()
	p.notes()
	p.footer()
	if p.err != nil {
		return p.err
	}
	_, err := w.Write(p.b.Bytes())
	return err
}

// htmlPage writes the report's page, one method per section. The
// whitespace between tags is the layout the page had as a template (one
// element a line, indented, blank lines where a section was left out): the
// page is byte for byte what it was, and its golden files still hold.
type htmlPage struct {
	htmlWriter
	r *Report
	f *Finding
}

// timeText writes a time as the report shows it: 2025-03-14 02:11:07Z.
func (p *htmlPage) timeText(t time.Time) { p.text(timeUTC(t)) }

// verified says whether a digest was verified: nothing when it was not
// checked.
func (p *htmlPage) verified(v *bool) {
	switch {
	case v == nil:
	case *v:
		p.raw(` <span class="res r-ok">verified</span>`)
	default:
		p.raw(` <span class="res r-bad">does not match</span>`)
	}
}

// confidence formats a verdict's confidence: 97%.
func confidence(c float64) string { return fmt.Sprintf("%.0f%%", c*100) }

func (p *htmlPage) head() {
	r := p.r
	p.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	p.open("meta", a("http-equiv", "Content-Security-Policy"), a("content", ContentSecurityPolicy))
	p.raw("\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n")
	generator := "cordon"
	if r.CordonVersion != "" {
		generator += " v" + r.CordonVersion
	}
	p.open("meta", a("name", "generator"), a("content", generator))
	p.raw("\n")
	p.elem("title", "Incident "+r.Incident.ID+": "+p.f.Type)
	p.raw("\n")
	p.rawTextElement("style", htmlCSS)
	p.raw("\n</head>\n<body>\n<a class=\"skip\" href=\"#timeline\">Skip to the timeline</a>\n")
}

// header is the page's banner (the finding, the verdict, the resource)
// and its table of contents.
func (p *htmlPage) header() {
	r, f := p.r, p.f
	p.raw("<header class=\"hero\">\n  <div class=\"wrap\">\n    <p class=\"eyebrow\">cordon incident report · ")
	p.elem("span", r.Incident.ID, a("class", "mono"))
	p.raw("</p>\n    ")
	p.elem("h1", f.Type)
	p.raw("\n    ")
	if f.Title != "" {
		p.elem("p", f.Title, a("class", "subtitle"))
	}
	p.raw("\n    <div class=\"badges\">\n      ")
	if v := r.Verdict; v != nil {
		p.open("span", a("class", "badge verdict v-"+verdictClass(v.Verdict)))
		p.text(strings.ToUpper(v.Verdict))
		if v.Confidence != nil {
			p.text(" · " + confidence(*v.Confidence) + " confidence")
		}
		p.raw("</span>\n      \n      ")
	} else {
		p.raw("<span class=\"badge verdict v-unknown\">NO VERDICT</span>\n      ")
	}
	if f.Severity != "" {
		p.open("span", a("class", "badge sev sev-"+f.Severity))
		p.text(f.Severity + " severity")
		if f.SeverityScore != 0 {
			p.text(" · " + fmt.Sprint(f.SeverityScore))
		}
		p.close("span")
	}
	p.raw("\n      ")
	p.elem("span", r.Incident.Status, a("class", "badge status"))
	p.raw("\n    </div>\n    <dl class=\"meta\">\n      <div><dt>Resource</dt><dd>")
	p.elem("span", f.Resource.ID, a("class", "mono"))
	if f.ResourceName != "" {
		p.text(" · " + f.ResourceName)
	}
	p.elem("span", " "+f.Resource.Type, a("class", "muted"))
	p.raw("</dd></div>\n      ")
	if f.Account != "" || f.Region != "" {
		p.raw("<div><dt>Account · region</dt><dd>")
		p.elem("span", f.Account, a("class", "mono"))
		p.text(" · " + f.Region)
		p.raw("</dd></div>")
	}
	p.raw("\n      ")
	if !f.FirstSeen.IsZero() {
		p.raw("<div><dt>Activity</dt><dd>")
		p.timeText(f.FirstSeen)
		if !f.LastSeen.IsZero() && !f.LastSeen.Equal(f.FirstSeen) {
			p.text(" → " + timeUTC(f.LastSeen))
		}
		if f.Count != 0 {
			p.text(" · " + count(f.Count, "occurrence", "occurrences"))
		}
		p.raw("</dd></div>")
	}
	p.raw("\n      <div><dt>Detector</dt><dd>")
	p.text(f.Detector + " · ")
	p.elem("span", f.ID, a("class", "mono"))
	p.raw("</dd></div>\n    </dl>\n  </div>\n</header>\n")

	p.raw("<nav class=\"toc\" aria-label=\"Sections\">\n  <div class=\"wrap\">\n    <a href=\"#assessment\">Assessment</a>")
	p.raw("<a href=\"#timeline\">Timeline ")
	p.elem("span", strconv.Itoa(len(r.Timeline.Entries)), a("class", "n"))
	p.raw("</a><a href=\"#scope\">Scope ")
	p.elem("span", strconv.Itoa(len(r.Scope.Resources)), a("class", "n"))
	p.raw("</a><a href=\"#actions\">Response ")
	p.elem("span", strconv.Itoa(len(r.Actions)), a("class", "n"))
	p.raw("</a><a href=\"#evidence\">Evidence</a><a href=\"#custody\">Custody ")
	p.elem("span", strconv.Itoa(len(r.Custody.Entries)), a("class", "n"))
	p.raw("</a>")
	if len(r.Notes) > 0 {
		p.raw("<a href=\"#notes\">Notes ")
		p.elem("span", strconv.Itoa(len(r.Notes)), a("class", "n warn"))
		p.raw("</a>")
	}
	p.raw("\n  </div>\n</nav>\n<main class=\"wrap\">\n\n")
}

// assessment is what the verdicts say: summary, root cause, impact, and
// each rule's verdict with its confidence and reasons.
func (p *htmlPage) assessment() {
	r := p.r
	p.raw("<section id=\"assessment\" aria-labelledby=\"h-assessment\">\n  <h2 id=\"h-assessment\">Assessment</h2>\n  <div class=\"grid\">\n")
	p.raw("    <article class=\"card wide lead\">\n      <h3>Summary</h3>\n      ")
	p.elem("p", cmp.Or(r.Summary, p.f.Description, "No summary was given by the verdict policy."))
	p.raw("\n    </article>\n    <article class=\"card\">\n      <h3>Root cause</h3>\n      ")
	p.elem("p", cmp.Or(r.RootCause, "Not determined by the verdict policy."))
	p.raw("\n    </article>\n    <article class=\"card\">\n      <h3>Impact</h3>\n      ")
	p.elem("p", cmp.Or(r.Impact, "Not determined by the verdict policy."))
	p.raw("\n    </article>\n  </div>\n  ")
	for _, v := range r.Verdicts {
		class := verdictClass(v.Verdict)
		p.raw("\n  ")
		p.open("article", a("class", "card verdict-card vc-"+class))
		p.raw("\n    <div class=\"vc-head\">\n      ")
		p.elem("span", strings.ToUpper(v.Verdict), a("class", "badge verdict v-"+class))
		p.raw("\n      <span>by <code>")
		p.text("rule." + v.Rule)
		p.raw("</code></span>\n      ")
		if c := v.Confidence; c != nil {
			p.open("span", a("class", "meter"), a("role", "meter"), a("aria-valuemin", "0"), a("aria-valuemax", "1"),
				a("aria-valuenow", fmt.Sprint(*c)), a("aria-label", "Confidence"))
			p.open("span", style(cssPercent{"width", math.Max(0, math.Min(1, *c)) * 100, 1}))
			p.raw("</span></span>")
			p.elem("span", confidence(*c)+" confidence", a("class", "muted"))
		}
		p.raw("\n    </div>\n    ")
		if len(v.Reasons) > 0 {
			p.raw("<ul class=\"reasons\">")
			for _, reason := range v.Reasons {
				p.elem("li", reason)
			}
			p.raw("</ul>")
		}
		p.raw("\n  </article>\n  ")
	}
	if len(r.Verdicts) == 0 {
		p.raw("\n  <p class=\"muted\">No rule gave a verdict.</p>\n  ")
	}
	p.raw("\n</section>\n\n")
}

// timelineDay is a day of the timeline and its entries.
type timelineDay struct {
	label, iso string
	entries    []int // indexes into Timeline.Entries
}

// timelineDays groups the timeline's entries by day, undated ones last.
func timelineDays(ev *Events) []timelineDay {
	var days []timelineDay
	for i := range ev.Entries {
		label, iso := "Undated", ""
		if t := ev.Entries[i].Time; !t.IsZero() {
			label, iso = t.Format("Monday 2 January 2006"), t.Format("2006-01-02")
		}
		if n := len(days); n == 0 || days[n-1].label != label {
			days = append(days, timelineDay{label: label, iso: iso})
		}
		d := &days[len(days)-1]
		d.entries = append(d.entries, i)
	}
	return days
}

// entryID is the id of the i-th timeline entry, the target of its mark on
// the overview strip.
func entryID(i int) string { return "ev-" + strconv.Itoa(i+1) }

// timeline is the overview strip, the filters and every entry on a
// vertical axis.
func (p *htmlPage) timeline() {
	r := p.r
	n := len(r.Timeline.Entries)
	p.raw("<section id=\"timeline\" aria-labelledby=\"h-timeline\">\n  <h2 id=\"h-timeline\">Timeline</h2>\n  <p class=\"lede\">")
	p.text(count(n, "entry", "entries"))
	if r.Timeline.Omitted != 0 {
		p.raw(", ")
		p.text(strconv.Itoa(r.Timeline.Omitted))
		p.raw(" more left out (the furthest from the finding's activity)")
	}
	p.raw(". All times UTC. <span class=\"observed-key\">observed</span> marks items that have no time of their own, placed when the triage saw them.</p>\n  ")
	if o := buildOverview(&r.Timeline); len(o.Marks) > 0 {
		p.overview(&o)
	}
	p.raw("\n  <div class=\"toolbar\" role=\"group\" aria-label=\"Filter the timeline\">\n    ")
	counts := r.Timeline.Count()
	for _, s := range Sources() {
		if counts[s] == 0 {
			continue
		}
		p.open("button", a("type", "button"), a("class", "filter src-"+string(s)), a("data-filter", string(s)), a("aria-pressed", "true"))
		p.raw("<span class=\"swatch\" aria-hidden=\"true\"></span>")
		p.text(s.Label() + " ")
		p.elem("span", strconv.Itoa(counts[s]), a("class", "n"))
		p.close("button")
	}
	p.raw("\n    <button type=\"button\" class=\"reset\" id=\"tl-all\">Show all</button>\n")
	p.raw("    <label class=\"search\"><span class=\"sr\">Filter entries by text</span><input type=\"search\" id=\"tl-q\" placeholder=\"Filter by text: pid, IP, user…\" autocomplete=\"off\"></label>\n    ")
	p.elem("p", "Showing all "+strconv.Itoa(n)+" entries", a("class", "status"), a("id", "tl-status"), a("aria-live", "polite"))
	p.raw("\n  </div>\n  ")
	if days := timelineDays(&r.Timeline); len(days) > 0 {
		p.raw("\n  <ol class=\"tl\" id=\"tl-list\">\n    ")
		for _, d := range days {
			p.raw("\n    <li class=\"day\"><h3>")
			if d.iso != "" {
				p.elem("time", d.label, a("datetime", d.iso))
			} else {
				p.text(d.label)
			}
			p.raw("</h3></li>\n    ")
			for _, i := range d.entries {
				p.entry(i)
			}
			p.raw("\n    ")
		}
		p.raw("\n  </ol>\n  <p class=\"empty\" id=\"tl-empty\" hidden>No entry matches the filters.</p>\n  ")
	} else {
		p.raw("\n  <p class=\"muted\">Nothing with a time was recorded.</p>\n  ")
	}
	p.raw("\n</section>\n\n")
}

// overview is the strip of the whole incident: a mark per dated entry,
// the finding's activity window, the collapsed quiet stretches.
func (p *htmlPage) overview(o *overview) {
	p.raw("\n  <figure class=\"overview-fig\">\n    ")
	p.open("div", a("class", "overview"), a("role", "img"), a("aria-label", o.Label))
	p.raw("\n      ")
	if w := o.Window; w != nil {
		p.open("span", a("class", "window"), style(cssPercent{"left", w.Left, 3}, cssPercent{"width", w.Width, 3}), a("title", "Finding activity window"))
		p.close("span")
	}
	p.raw("\n      ")
	for _, b := range o.Breaks {
		p.open("span", a("class", "break"), style(cssPercent{"left", b.Left, 3}))
		p.elem("span", b.Label)
		p.close("span")
	}
	p.raw("\n      ")
	for _, m := range o.Marks {
		class := "mark src-" + string(m.Source)
		if m.Cordon {
			class += " m-cordon"
		}
		if m.Error {
			class += " m-error"
		}
		p.open("a", a("class", class), a("data-source", string(m.Source)), fragmentHref(m.ID), a("tabindex", "-1"),
			a("aria-hidden", "true"), style(cssPercent{"left", m.Left, 3}), a("title", m.Title))
		p.close("a")
	}
	p.raw("\n    </div>\n    <div class=\"axis\" aria-hidden=\"true\">")
	for _, s := range o.Segments {
		p.open("span", a("class", "seg"), style(cssPercent{"left", s.Left, 3}, cssPercent{"width", s.Width, 3}))
		p.elem("span", s.Start)
		p.close("span")
	}
	p.raw("</div>\n    <figcaption class=\"muted\">")
	if o.Window != nil {
		p.raw("<span class=\"window-key\"></span> the finding's activity window. ")
	}
	if len(o.Breaks) > 0 {
		p.raw("Long quiet stretches are collapsed (⫽). ")
	}
	p.raw("Select a mark in the list below to read it.</figcaption>\n  </figure>\n  ")
}

// entry is the i-th entry of the timeline.
func (p *htmlPage) entry(i int) {
	e := &p.r.Timeline.Entries[i]
	class := "ev src-" + string(e.Source)
	if e.Source == SourceCordon {
		class += " is-cordon"
	}
	if e.Error != "" {
		class += " has-error"
	}
	p.raw("\n    ")
	p.open("li", a("class", class), a("data-source", string(e.Source)), idAttr(entryID(i)))
	p.raw("\n      <span class=\"when\">")
	if !e.Time.IsZero() {
		p.elem("time", e.Time.Format("15:04:05"), a("datetime", e.Time.UTC().Format(time.RFC3339)))
	}
	p.raw("</span>\n      <span class=\"dot\" aria-hidden=\"true\"></span>\n      <div class=\"body\">\n        <div class=\"head\">\n          ")
	p.elem("span", e.Source.Label(), a("class", "chip src-"+string(e.Source)))
	p.raw("\n          ")
	p.elem("span", e.Title, a("class", "title"))
	p.raw("\n          ")
	if e.Result != "" {
		p.elem("span", e.Result, a("class", "res r-"+resultClass(e.Result)))
	}
	p.raw("\n          ")
	if e.Observed {
		p.raw("<span class=\"observed\" title=\"No time of its own: placed when the triage observed it\">observed</span>")
	}
	p.raw("\n        </div>\n        ")
	if e.Error != "" {
		p.elem("p", e.Error, a("class", "err"))
	}
	p.raw("\n        ")
	if len(e.Details) > 0 {
		p.raw("<dl class=\"kv\">")
		for _, d := range e.Details {
			p.raw("<div>")
			p.elem("dt", d.Name)
			p.elem("dd", d.Value)
			p.raw("</div>")
		}
		p.raw("</dl>")
	}
	p.raw("\n      </div>\n    </li>\n    ")
}

// scope is the affected resources, the other findings on them and the
// indicators.
func (p *htmlPage) scope() {
	sc := &p.r.Scope
	p.raw("<section id=\"scope\" aria-labelledby=\"h-scope\">\n  <h2 id=\"h-scope\">Scope</h2>\n")
	p.tableStart("", "Affected resources", "Resource", "Type", "Known from", "Notes")
	for _, res := range sc.Resources {
		if res.Primary {
			p.raw("<tr class=\"primary\"><td>")
		} else {
			p.raw("<tr><td>")
		}
		p.elem("code", res.ID)
		if res.Primary {
			p.raw(" <span class=\"tag\">primary</span>")
		}
		p.raw("</td><td>")
		p.elem("code", res.Type)
		p.raw("</td>")
		p.elem("td", strings.Join(res.Via, ", "))
		p.raw("<td>")
		p.text(res.Name)
		if res.Name != "" && res.Note != "" {
			p.text(" · ")
		}
		p.text(res.Note)
		p.raw("</td></tr>\n    ")
	}
	p.tableEnd()
	p.raw("\n  ")
	if len(sc.RelatedFindings) > 0 {
		p.raw("\n")
		p.tableStart("", "Other findings on these resources", "Updated", "Type", "Severity", "Title")
		for _, rf := range sc.RelatedFindings {
			p.raw("<tr>")
			p.elem("td", timeUTC(rf.UpdatedAt), a("class", "nowrap"))
			p.raw("<td>")
			p.elem("code", rf.Type)
			p.raw("</td><td>")
			p.open("span", a("class", "badge sev sev-"+rf.Severity))
			p.text(rf.Severity)
			if rf.SeverityScore != nil {
				p.text(" · " + fmt.Sprint(*rf.SeverityScore))
			}
			p.raw("</span></td>")
			p.elem("td", rf.Title)
			p.raw("</tr>\n    ")
		}
		p.tableEnd()
		p.raw("\n  ")
	}
	p.raw("\n  ")
	if len(sc.Indicators) > 0 {
		p.raw("\n")
		p.tableStart("", "Indicators", "Indicator", "Kind", "Seen in")
		for _, in := range sc.Indicators {
			p.raw("<tr><td>")
			p.elem("code", in.Value)
			p.raw("</td>")
			p.elem("td", in.Kind)
			p.elem("td", strings.Join(in.Seen, "; "))
			p.raw("</tr>\n    ")
		}
		p.tableEnd()
		p.raw("\n  ")
	}
	p.raw("\n</section>\n\n")
}

// tableStart opens a table in its scrolling wrapper: its caption (none
// when empty), its column headings and the body, where rows follow.
func (p *htmlPage) tableStart(class, caption markup, columns ...markup) {
	p.raw("  <div class=\"table-wrap\">\n  ")
	if class != "" {
		p.raw("<table class=\"" + class + "\">\n")
	} else {
		p.raw("<table>\n")
	}
	if caption != "" {
		p.raw("    <caption>" + caption + "</caption>\n")
	}
	p.raw("    <thead><tr>")
	for _, c := range columns {
		p.raw("<th scope=\"col\">" + c + "</th>")
	}
	p.raw("</tr></thead>\n    <tbody>\n    ")
}

// tableEnd closes what tableStart opened.
func (p *htmlPage) tableEnd() {
	p.raw("\n    </tbody>\n  </table>\n  </div>")
}

// actions is every action record with its result and changes.
func (p *htmlPage) actions() {
	r := p.r
	p.raw("<section id=\"actions\" aria-labelledby=\"h-actions\">\n  <h2 id=\"h-actions\">Response actions</h2>\n  ")
	if len(r.Actions) == 0 {
		p.raw("\n  <p class=\"muted\">cordon took no action.</p>\n  \n</section>\n\n")
		return
	}
	p.raw("\n")
	p.tableStart("actions", "", "#", "Action", "Result", "When", "Before → after")
	for i := range r.Actions {
		p.action(&r.Actions[i])
	}
	p.tableEnd()
	p.raw("\n  \n</section>\n\n")
}

// action is one row of the actions table.
func (p *htmlPage) action(ac *Action) {
	revert := ac.Kind == state.KindRevert
	p.raw("\n    ")
	if revert {
		p.raw("<tr class=\"revert\">")
	} else {
		p.raw("<tr class=\"\">") // as the template wrote it
	}
	p.raw("\n      ")
	p.elem("td", strconv.FormatInt(ac.ID, 10), a("class", "num"))
	p.raw("\n      <td>")
	p.elem("code", ac.Address, a("class", "addr"))
	p.raw("<div class=\"muted small\">")
	if revert {
		p.raw("<span class=\"tag revert\">revert")
		if ac.RevertOf != 0 {
			p.text(" of #" + strconv.FormatInt(ac.RevertOf, 10))
		}
		p.raw("</span> ")
	}
	p.elem("code", ac.Type)
	p.text(" · " + ac.Phase)
	p.raw("</div></td>\n      <td>")
	p.elem("span", string(ac.Result), a("class", "res r-"+resultClass(string(ac.Result))))
	p.raw("</td>\n      <td class=\"nowrap small\">")
	p.timeText(ac.StartedAt)
	if ac.FinishedAt != nil {
		p.raw("<br>")
		p.elem("span", "to "+timeUTC(*ac.FinishedAt), a("class", "muted"))
	}
	p.raw("</td>\n      <td>\n        ")
	for _, c := range ac.Changes {
		p.raw("<div class=\"chg\">")
		p.elem("span", c.Attribute, a("class", "attr"))
		p.elem("code", compactValue(c.Before, 600), a("class", "before"))
		p.raw("<span class=\"arrow\" aria-label=\"becomes\">→</span>")
		p.elem("code", compactValue(c.After, 600), a("class", "after"))
		p.raw("</div>")
	}
	if len(ac.Changes) == 0 {
		p.raw("<span class=\"muted\">no attribute changed</span>")
	}
	p.raw("\n        ")
	if ac.Error != "" {
		p.elem("p", ac.Error, a("class", "err"))
	}
	p.raw("\n      </td>\n    </tr>\n    ")
}

// evidence is the chain of custody: the facts' digests, the snapshots,
// the console screenshots and other evidence records.
func (p *htmlPage) evidence() {
	r := p.r
	p.raw("<section id=\"evidence\" aria-labelledby=\"h-evidence\">\n  <h2 id=\"h-evidence\">Evidence</h2>\n  <div class=\"custody\">\n")
	p.raw("    <p><strong>Facts digest</strong> (SHA-256 of everything the verdict saw): ")
	if r.Facts.SHA256 != "" {
		p.elem("code", r.Facts.SHA256, a("class", "hash"))
		p.verified(r.Facts.Verified)
	} else {
		p.raw("<span class=\"muted\">none recorded</span>")
	}
	p.raw("</p>\n  </div>\n  ")
	if len(r.Facts.Collectors) > 0 {
		p.raw("\n")
		p.tableStart("", "Facts by collector", "Collector", "Type", "Contents", "SHA-256", "Size")
		for i := range r.Facts.Collectors {
			p.collector(&r.Facts.Collectors[i])
		}
		p.tableEnd()
		p.raw("\n  ")
		p.skippedFiles(r.Facts.Collectors)
	} else {
		p.raw("\n  <p class=\"muted\">No collector gathered facts.</p>\n  ")
	}
	p.raw("\n  ")
	if len(r.Evidence.Snapshots) > 0 {
		p.raw("\n")
		p.tableStart("", "Disk snapshots", "Snapshot", "Volume", "Device", "State", "Started", "Taken by")
		for _, s := range r.Evidence.Snapshots {
			p.raw("<tr><td>")
			p.elem("code", s.SnapshotID)
			p.raw("</td><td>")
			p.elem("code", s.VolumeID)
			p.raw("</td><td>")
			p.elem("code", s.Device)
			p.raw("</td>")
			p.elem("td", s.State)
			p.elem("td", timeUTC(s.StartedAt), a("class", "nowrap"))
			p.elem("td", strings.Join(s.TakenBy, ", "))
			p.raw("</tr>\n    ")
		}
		p.tableEnd()
		p.raw("\n  ")
	}
	p.raw("\n  ")
	for i := range r.Evidence.Screenshots {
		p.screenshot(&r.Evidence.Screenshots[i])
	}
	p.raw("\n  ")
	for _, e := range r.Evidence.ScreenshotErrors {
		p.raw("\n  <p class=\"shot-error\"><strong>Console screenshot not taken</strong> by ")
		p.elem("code", e.Collector)
		p.raw(": ")
		p.elem("span", e.Error, a("class", "err"))
		p.raw("</p>\n  ")
	}
	p.raw("\n  ")
	if len(r.Evidence.Other) > 0 {
		p.raw("\n")
		p.tableStart("", "Other evidence", "Kind", "Name", "SHA-256", "Size")
		for _, o := range r.Evidence.Other {
			p.raw("<tr>")
			p.elem("td", o.Kind)
			p.raw("<td>")
			p.elem("code", o.Name)
			p.raw("</td><td>")
			if o.SHA256 != "" {
				p.elem("code", o.SHA256, a("class", "hash small"))
			}
			p.raw("</td><td>")
			if o.Size != 0 {
				p.text(ui.ByteSize(o.Size))
			}
			p.raw("</td></tr>\n    ")
		}
		p.tableEnd()
		p.raw("\n  ")
	}
	p.raw("\n</section>\n\n")
}

// custody is the custody log: the chain head, whether it verified, and
// every entry.
func (p *htmlPage) custody() {
	c := &p.r.Custody
	p.raw("<section id=\"custody\" aria-labelledby=\"h-custody\">\n  <h2 id=\"h-custody\">Chain of custody</h2>\n  <div class=\"custody\">\n    <p><strong>Chain head</strong> (the last entry's hash, which covers every entry before it): ")
	if c.Head != "" {
		p.elem("code", c.Head, a("class", "hash"))
	} else {
		p.raw("<span class=\"muted\">no entries</span>")
	}
	p.verified(c.Verified)
	p.raw("</p>\n")
	if b := c.Break; b != nil {
		p.raw("    <p class=\"err\"><strong>Broken at ")
		if b.Seq == 0 {
			p.text("evidence record " + strconv.FormatInt(b.EvidenceID, 10))
		} else {
			p.text("entry " + strconv.FormatInt(b.Seq, 10))
		}
		p.raw("</strong> (")
		p.text(b.Kind + " ")
		p.elem("code", b.Name)
		p.raw("): ")
		p.text(string(b.Problem) + ": " + b.Detail)
		p.raw("</p>\n")
	}
	p.raw("  </div>\n")
	if len(c.Entries) == 0 {
		p.raw("  <p class=\"muted\">No custody entries were recorded.</p>\n</section>\n\n")
		return
	}
	p.tableStart("", "Custody log", "#", "Kind", "Name", "SHA-256", "Size", "Recorded", "Hash")
	for i := range c.Entries {
		e := &c.Entries[i]
		p.raw("<tr>")
		p.elem("td", strconv.FormatInt(e.Seq, 10), a("class", "num"))
		p.elem("td", e.Kind)
		p.raw("<td>")
		p.elem("code", e.Name)
		p.raw("</td><td>")
		if e.SHA256 != "" {
			p.elem("code", e.SHA256, a("class", "hash small"))
		}
		p.raw("</td><td class=\"nowrap\">")
		if e.SHA256 != "" || e.Size > 0 {
			p.text(ui.ByteSize(e.Size))
		}
		p.raw("</td>")
		p.elem("td", timeUTC(e.At), a("class", "nowrap"))
		p.raw("<td>")
		p.elem("code", e.Hash, a("class", "hash small"))
		p.raw("</td></tr>\n    ")
	}
	p.tableEnd()
	p.raw("\n</section>\n\n")
}

// collector is one row of the facts-by-collector table.
func (p *htmlPage) collector(c *CollectorFacts) {
	if c.Error != "" {
		p.raw("<tr class=\"failed\"><td>")
	} else {
		p.raw("<tr><td>")
	}
	p.elem("code", c.Name)
	p.raw("</td><td>")
	if c.Type != "" {
		p.elem("code", c.Type)
		if c.TypeInferred {
			p.raw(" <span class=\"muted small\">recognised</span>")
		}
	} else {
		p.raw("<span class=\"muted\">unknown</span>")
	}
	p.raw("</td>\n      <td>")
	if c.Error != "" {
		p.raw("<span class=\"res r-bad\">failed</span> ")
		p.text(c.Error)
	} else {
		p.text(c.Summary)
	}
	if c.Problem != "" {
		p.elem("div", c.Problem, a("class", "warn small"))
	}
	p.raw("</td>\n      <td>")
	if c.SHA256 != "" {
		p.elem("code", c.SHA256, a("class", "hash small"))
	}
	p.verified(c.Verified)
	p.raw("</td><td class=\"nowrap\">")
	if c.Size != 0 {
		p.text(ui.ByteSize(c.Size))
	}
	p.raw("</td></tr>\n    ")
}

// skippedFiles lists, for each triage that has them, the files it did not
// read: links (with where they point) and special files first, as they
// are evidence of their own.
func (p *htmlPage) skippedFiles(cs []CollectorFacts) {
	for i := range cs {
		c := &cs[i]
		if len(c.Skipped) == 0 {
			continue
		}
		p.raw("\n  <p>The triage ")
		p.elem("code", c.Name)
		p.raw(" did not read these files: it follows no symbolic link and opens only regular files, each within a size and a time bound. A link where a file was expected (an <code>authorized_keys</code> pointing elsewhere) is itself a sign of tampering; its target was never read.</p>\n")
		p.tableStart("", "Files the triage did not read", "Path", "Reason", "Target", "Section")
		for j := range c.Skipped {
			s := &c.Skipped[j]
			if s.tampering() {
				p.raw("<tr class=\"failed\"><td>")
			} else {
				p.raw("<tr><td>")
			}
			if s.Path != "" {
				p.elem("code", s.Path)
			} else {
				p.raw("<span class=\"muted\">the whole section</span>")
			}
			p.raw("</td>")
			p.elem("td", s.reasonText())
			p.raw("<td>")
			if s.Target != "" {
				p.elem("code", s.Target)
			}
			p.raw("</td>")
			p.elem("td", s.Section)
			p.raw("</tr>\n    ")
		}
		if c.SkippedOmitted > 0 {
			p.raw("<tr><td colspan=\"4\" class=\"muted\">")
			p.text(fmt.Sprintf("… %d more not shown (the facts list them all)", c.SkippedOmitted))
			p.raw("</td></tr>\n    ")
		}
		p.tableEnd()
		p.raw("\n  ")
	}
}

// screenshot is a console screenshot, embedded when it is a PNG or JPEG
// read with its data.
func (p *htmlPage) screenshot(s *Screenshot) {
	p.raw("\n  <figure class=\"shot\">\n    ")
	// Only bytes with a PNG or JPEG signature have those content types:
	// Build reads them from the image, whatever the metadata claims.
	if src, ok := imageSrc(s.ContentType, s.Image); ok && s.Image != nil {
		p.open("img", src, a("alt", "Console screenshot "+s.Name+" of "+cmp.Or(s.InstanceID, "the instance")))
	} else {
		p.raw("<p class=\"muted\">The screenshot is not shown: it is not a PNG or JPEG image, is too large, does not match its digest, or was read without its data.</p>")
	}
	p.raw("\n    <figcaption><strong>Console screenshot</strong> ")
	p.elem("code", s.Name)
	if s.InstanceID != "" {
		p.raw(" of ")
		p.elem("code", s.InstanceID)
	}
	p.text(" · ")
	if s.ContentType != "" {
		p.text(s.ContentType + " · ")
	}
	p.text(ui.ByteSize(s.Size) + " · SHA-256 ")
	p.elem("code", s.SHA256, a("class", "hash"))
	p.verified(s.Verified)
	if !s.RecordedAt.IsZero() {
		p.text(" · recorded " + timeUTC(s.RecordedAt))
	}
	p.raw("</figcaption>\n  </figure>\n  ")
}

// notes are the problems met reading the record, if any.
func (p *htmlPage) notes() {
	if len(p.r.Notes) > 0 {
		p.raw("\n<section id=\"notes\" aria-labelledby=\"h-notes\">\n  <h2 id=\"h-notes\">Notes</h2>\n  <ul class=\"notes\">")
		for _, n := range p.r.Notes {
			p.elem("li", n)
		}
		p.raw("</ul>\n</section>\n")
	}
	p.raw("\n</main>\n")
}

func (p *htmlPage) footer() {
	r := p.r
	p.raw("<footer class=\"wrap muted small\">Report of incident ")
	p.elem("span", r.Incident.ID, a("class", "mono"))
	p.text(" by cordon")
	if r.CordonVersion != "" {
		p.text(" v" + r.CordonVersion)
	}
	if !r.GeneratedAt.IsZero() {
		p.text(", generated " + timeUTC(r.GeneratedAt))
	}
	p.text(". Recorded " + timeUTC(r.Incident.CreatedAt) + ". All times UTC.")
	p.raw("</footer>\n")
	p.rawTextElement("script", htmlJS)
	p.raw("\n</body>\n</html>\n")
}

// overview lays the timeline out on one horizontal strip. Incidents have
// bursts separated by long quiet stretches (a host booted weeks before the
// miner started), so the axis is broken: each burst of activity gets width
// in proportion to its duration, and every long gap is drawn as a fixed
// break labelled with its length.
type overview struct {
	Marks    []mark
	Segments []segment
	Breaks   []axisBreak
	Window   *span
	Label    string
}

type mark struct {
	Left   float64
	Source Source
	Cordon bool
	Error  bool
	ID     string // of the entry it stands for
	Title  string
}

type segment struct {
	Left, Width float64
	Start, End  string
}

type axisBreak struct {
	Left  float64
	Label string
}

type span struct{ Left, Width float64 }

// breakWidth is the share of the strip a collapsed gap takes, in percent.
const breakWidth = 3.0

type cluster struct {
	start, end  time.Time
	left, width float64
}

func buildOverview(ev *Events) overview {
	var times []time.Time
	for i := range ev.Entries {
		if t := ev.Entries[i].Time; !t.IsZero() {
			times = append(times, t)
		}
	}
	if len(times) == 0 {
		return overview{}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	total := times[len(times)-1].Sub(times[0])
	// A gap longer than a tenth of the whole, and over an hour, breaks the
	// axis.
	threshold := max(total/10, time.Hour)
	var cl []cluster
	cur := cluster{start: times[0], end: times[0]}
	for _, t := range times[1:] {
		if t.Sub(cur.end) > threshold {
			cl = append(cl, cur)
			cur = cluster{start: t, end: t}
			continue
		}
		cur.end = t
	}
	cl = append(cl, cur)
	if len(cl) > 12 { // too fragmented to help: one linear axis
		cl = []cluster{{start: times[0], end: times[len(times)-1]}}
	}
	var sum time.Duration
	for _, c := range cl {
		sum += c.end.Sub(c.start)
	}
	// Every cluster gets a floor so a single event stays visible.
	floor := max(sum/time.Duration(4*len(cl)), time.Second)
	var weights float64
	for _, c := range cl {
		weights += float64(c.end.Sub(c.start) + floor)
	}
	avail := 100 - breakWidth*float64(len(cl)-1)
	left := 0.0
	o := overview{}
	for i := range cl {
		c := &cl[i]
		c.left = left
		c.width = avail * float64(c.end.Sub(c.start)+floor) / weights
		left += c.width
		o.Segments = append(o.Segments, segment{Left: c.left, Width: c.width, Start: c.start.Format("2 Jan 15:04"), End: c.end.Format("15:04")})
		if i < len(cl)-1 {
			o.Breaks = append(o.Breaks, axisBreak{Left: left, Label: shortDuration(cl[i+1].start.Sub(c.end))})
			left += breakWidth
		}
	}
	pos := func(t time.Time) float64 {
		for i := range cl {
			c := &cl[i]
			if t.After(c.end) && i < len(cl)-1 {
				continue
			}
			d := c.end.Sub(c.start)
			// The floor is split evenly on both sides of the cluster.
			inner := c.width * float64(d) / float64(d+floor)
			pad := (c.width - inner) / 2
			if d == 0 {
				return c.left + c.width/2
			}
			frac := float64(t.Sub(c.start)) / float64(d)
			return c.left + pad + inner*math.Max(0, math.Min(1, frac))
		}
		return 100
	}
	for i := range ev.Entries {
		e := &ev.Entries[i]
		if e.Time.IsZero() {
			continue
		}
		o.Marks = append(o.Marks, mark{Left: pos(e.Time), Source: e.Source, Cordon: e.Source == SourceCordon,
			Error: e.Error != "", ID: entryID(i), Title: timeUTC(e.Time) + " " + e.Title})
	}
	if !ev.WindowStart.IsZero() {
		l, r := pos(ev.WindowStart), pos(ev.WindowEnd)
		o.Window = &span{Left: l, Width: math.Max(r-l, 0.4)}
	}
	o.Label = fmt.Sprintf("Overview of %s from %s to %s", count(len(o.Marks), "dated entry", "dated entries"),
		timeUTC(times[0]), timeUTC(times[len(times)-1]))
	return o
}

// shortDuration says how long a gap is, roughly: 3d 4h, 5h 12m, 40m.
func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		days := d / (24 * time.Hour)
		if h := (d % (24 * time.Hour)) / time.Hour; h > 0 {
			return fmt.Sprintf("%dd %dh", days, h)
		}
		return fmt.Sprintf("%dd", days)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}
