package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// The HTML report is one file: the stylesheet and script below are inlined,
// the screenshot is a data: URI, and the Content-Security-Policy forbids
// every fetch (default-src 'none') and every script but this one (by its
// hash), so a value that escaped escaping still could not run or phone
// home.

//go:embed assets/report.html.tmpl
var htmlTemplateText string

//go:embed assets/report.css
var htmlCSS string

//go:embed assets/report.js
var htmlJS string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"time":     timeUTC,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"bytes":    byteSize,
	"upper":    strings.ToUpper,
	"pct":      func(f float64) string { return fmt.Sprintf("%.3f%%", f) },
	"conf":     func(f *float64) string { return fmt.Sprintf("%.0f%%", *f*100) },
	"confpct":  func(f *float64) string { return fmt.Sprintf("%.1f%%", math.Max(0, math.Min(1, *f))*100) },
	"json":     func(v json.RawMessage) string { return compactValue(v, 600) },
	"verdict":  verdictClass,
	"result":   resultClass,
	"join":     strings.Join,
	"label":    func(s Source) string { return s.Label() },
	"verified": verifiedText,
	"plural":   count,
}).Parse(htmlTemplateText))

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

// htmlView is what the template renders.
type htmlView struct {
	R          *Report
	CSS        template.CSS
	JS         template.JS
	CSP        string
	Sources    []sourceView
	Days       []dayView
	Overview   overview
	Shots      []shotView
	EntryCount int
}

type sourceView struct {
	Source Source
	Label  string
	Count  int
}

type dayView struct {
	Label   string
	ISO     string
	Entries []entryView
}

type entryView struct {
	*Entry
	ID    string
	Clock string
}

type shotView struct {
	Screenshot
	URI template.URL
}

// WriteHTML writes the report as one self-contained HTML file with a visual
// timeline: an overview strip of the whole incident, then every entry on a
// vertical time axis, coloured by source, with filter toggles and a text
// filter (keyboard accessible), cordon's actions highlighted. It fetches
// nothing and prints readably.
func (r *Report) WriteHTML(w io.Writer) error {
	v := htmlView{R: r, CSS: template.CSS(htmlCSS), JS: template.JS(htmlJS), CSP: ContentSecurityPolicy,
		EntryCount: len(r.Timeline.Entries)}
	counts := r.Timeline.Count()
	for _, s := range Sources() {
		if counts[s] > 0 {
			v.Sources = append(v.Sources, sourceView{Source: s, Label: s.Label(), Count: counts[s]})
		}
	}
	for i := range r.Timeline.Entries {
		e := &r.Timeline.Entries[i]
		label, iso, clock := "Undated", "", ""
		if !e.Time.IsZero() {
			label, iso, clock = e.Time.Format("Monday 2 January 2006"), e.Time.Format("2006-01-02"), e.Time.Format("15:04:05")
		}
		if n := len(v.Days); n == 0 || v.Days[n-1].Label != label {
			v.Days = append(v.Days, dayView{Label: label, ISO: iso})
		}
		d := &v.Days[len(v.Days)-1]
		d.Entries = append(d.Entries, entryView{Entry: e, ID: fmt.Sprintf("ev-%d", i+1), Clock: clock})
	}
	v.Overview = buildOverview(&r.Timeline)
	for _, s := range r.Evidence.Screenshots {
		sv := shotView{Screenshot: s}
		if s.Image != nil && (s.ContentType == "image/png" || s.ContentType == "image/jpeg") {
			// Only bytes with a PNG or JPEG signature get here, as a
			// base64 data: URI: nothing in it can leave the attribute.
			sv.URI = template.URL("data:" + s.ContentType + ";base64," + base64.StdEncoding.EncodeToString(s.Image))
		}
		v.Shots = append(v.Shots, sv)
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, &v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
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
	Href   string
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
			Error: e.Error != "", Href: fmt.Sprintf("#ev-%d", i+1), Title: timeUTC(e.Time) + " " + e.Title})
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
