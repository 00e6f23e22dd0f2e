package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/internal/ui"
)

// skippedFixture builds the cryptominer incident's report with the triage
// facts' skipped records set to skipped (any JSON value, as a host or an
// older collector may give it).
func skippedFixture(t *testing.T, skipped any) *report.Report {
	t.Helper()
	fx := load(t, "cryptominer")
	d := fx.Detail
	var facts map[string]map[string]any
	if err := json.Unmarshal(d.Incident.Facts, &facts); err != nil {
		t.Fatal(err)
	}
	facts["triage"]["skipped"] = skipped
	d.Incident.Facts, _ = json.Marshal(facts)
	d.Incident.FactsSHA256 = ""
	kept := fx.Evidence[:0]
	for _, ev := range fx.Evidence {
		if ev.Kind != "facts" { // it no longer matches the facts
			kept = append(kept, ev)
		}
	}
	return report.Build(d, kept, fx.CollectorTypes)
}

func triageDigest(t *testing.T, r *report.Report) report.CollectorFacts {
	t.Helper()
	for _, c := range r.Facts.Collectors {
		if c.Name == "triage" {
			return c
		}
	}
	t.Fatalf("no triage collector in %+v", r.Facts.Collectors)
	return report.CollectorFacts{}
}

func renderAll(t *testing.T, r *report.Report) (md, html, js string) {
	t.Helper()
	var m, h, j bytes.Buffer
	if err := r.WriteMarkdown(&m); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	return m.String(), h.String(), j.String()
}

// The files the triage script refused to read are listed in every format,
// links and special files first, each value escaped for its format: the
// host wrote the paths and the links' targets.
func TestReportShowsSkippedFiles(t *testing.T) {
	const (
		scriptPath = "/tmp/<script>window.__pwned=1</script>"
		ansiPath   = "/root/.ssh/authorized_keys\x1b[2J\x1b[31mFAKE OK\r\n| forged | row |\u202egnp"
		imgTarget  = `"><img src=x onerror="window.__pwned=2"> ` + "`tick` | pipe"
	)
	skipped := []any{
		// A bound's skip first in the script's output: listed after the
		// links, which are evidence.
		map[string]any{"section": "processes", "path": "/tmp/.x/xmrig", "reason": "too_large", "target": "", "file_type": "", "size": 8 << 30},
		map[string]any{"section": "authorized_keys", "path": "/home/deploy/.ssh/authorized_keys", "reason": "symlink", "target": "/etc/shadow", "file_type": "", "size": 0},
		map[string]any{"section": "cron", "path": scriptPath, "reason": "symlink", "target": imgTarget, "file_type": "", "size": 0},
		map[string]any{"section": "authorized_keys", "path": ansiPath, "reason": "not_regular", "target": "", "file_type": "fifo", "size": 0},
		map[string]any{"section": "files", "path": "", "reason": "budget", "target": "", "file_type": "", "size": 0},
	}
	r := skippedFixture(t, skipped)
	c := triageDigest(t, r)
	if c.Problem != "" || !strings.HasSuffix(c.Summary, ", 5 files not read") {
		t.Errorf("triage digest: summary %q, problem %q", c.Summary, c.Problem)
	}
	var order []string
	for _, s := range c.Skipped {
		order = append(order, s.Reason)
	}
	if got := strings.Join(order, ","); got != "symlink,symlink,not_regular,too_large,budget" {
		t.Errorf("order %s: want links and special files first, each group in the script's order", got)
	}
	if c.Skipped[0].Path != "/home/deploy/.ssh/authorized_keys" || c.Skipped[0].Target != "/etc/shadow" {
		t.Errorf("first skipped %+v", c.Skipped[0])
	}
	for _, s := range c.Skipped {
		if ui.Safe(s.Path) != s.Path || ui.Safe(s.Target) != s.Target {
			t.Errorf("not cleaned: %+v", s)
		}
	}

	md, html, js := renderAll(t, r)
	// Each row exactly, per format: what a reader sees.
	safeANSI := `/root/.ssh/authorized_keys\x1b[2J\x1b[31mFAKE OK\r\n| forged | row |\u202egnp`
	tests := []struct {
		format, out string
		rows        []string
	}{
		{"markdown", md, []string{
			"### Files the triage `triage` did not read",
			"| Path | Reason | Target | Section |\n|---|---|---|---|\n" +
				"| `/home/deploy/.ssh/authorized_keys` | ⚠ symbolic link, not followed | `/etc/shadow` | authorized\\_keys |\n",
			"| `/tmp/<script>window.__pwned=1</script>` | ⚠ symbolic link, not followed | " +
				"``\"><img src=x onerror=\"window.__pwned=2\"> `tick` \\| pipe`` | cron |\n",
			"| `" + strings.ReplaceAll(safeANSI, "|", `\|`) + "` | ⚠ not a regular file (fifo) |  | authorized\\_keys |\n",
			"| `/tmp/.x/xmrig` | too large (8.0 GiB): read in part or not hashed |  | processes |\n",
			"| *the whole section* | the triage's time ran out |  | files |\n",
		}},
		{"html", html, []string{
			"<caption>Files the triage did not read</caption>",
			`<tr class="failed"><td><code>/home/deploy/.ssh/authorized_keys</code></td><td>symbolic link, not followed</td><td><code>/etc/shadow</code></td><td>authorized_keys</td></tr>`,
			`<tr class="failed"><td><code>/tmp/&lt;script&gt;window.__pwned=1&lt;/script&gt;</code></td><td>symbolic link, not followed</td>` +
				`<td><code>&#34;&gt;&lt;img src=x onerror=&#34;window.__pwned=2&#34;&gt; ` + "`tick`" + ` | pipe</code></td><td>cron</td></tr>`,
			`<tr class="failed"><td><code>` + safeANSI + `</code></td><td>not a regular file (fifo)</td><td></td><td>authorized_keys</td></tr>`,
			`<tr><td><code>/tmp/.x/xmrig</code></td><td>too large (8.0 GiB): read in part or not hashed</td><td></td><td>processes</td></tr>`,
			`<tr><td><span class="muted">the whole section</span></td><td>the triage&#39;s time ran out</td><td></td><td>files</td></tr>`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			for _, row := range tt.rows {
				if !strings.Contains(tt.out, row) {
					t.Errorf("missing:\n%s", row)
				}
			}
			// Nothing the host wrote reaches the output raw: no terminal
			// escape, carriage return or bidi override; in HTML no markup
			// (Markdown shows it in code spans, where it is text).
			raws := []string{"\x1b", "\r", "\u202e"}
			if tt.format == "html" {
				raws = append(raws, "<script>window", "<img src=x")
			}
			for _, raw := range raws {
				if strings.Contains(tt.out, raw) {
					t.Errorf("%q reached the %s report raw", raw, tt.format)
				}
			}
		})
	}
	// JSON keeps every field, cleaned.
	var doc struct {
		Facts struct {
			Collectors []struct {
				Name    string               `json:"name"`
				Skipped []report.SkippedFile `json:"skipped"`
			} `json:"collectors"`
		} `json:"facts"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	for _, dc := range doc.Facts.Collectors {
		if dc.Name != "triage" {
			if dc.Skipped != nil {
				t.Errorf("collector %s has skipped files %+v", dc.Name, dc.Skipped)
			}
			continue
		}
		want := []report.SkippedFile{
			{Section: "authorized_keys", Path: "/home/deploy/.ssh/authorized_keys", Reason: "symlink", Target: "/etc/shadow"},
			{Section: "cron", Path: scriptPath, Reason: "symlink", Target: imgTarget},
			{Section: "authorized_keys", Path: safeANSI, Reason: "not_regular", FileType: "fifo"},
			{Section: "processes", Path: "/tmp/.x/xmrig", Reason: "too_large", Size: 8 << 30},
			{Section: "files", Reason: "budget"},
		}
		if !slices.Equal(dc.Skipped, want) {
			t.Errorf("JSON skipped:\n got %+v\nwant %+v", dc.Skipped, want)
		}
	}
	if strings.Contains(js, "\x1b") || strings.Contains(js, `\u001b`) {
		t.Error("a terminal escape reached the JSON report")
	}
	if t.Failed() {
		i := strings.Index(md, "### Files the triage")
		if i >= 0 {
			t.Logf("markdown section:\n%s", md[i:min(len(md), i+1500)])
		}
	}
}

// Skipped records of the wrong shape are read leniently, as every fact
// is: the report says what it could not read and shows the rest; many
// are bounded.
func TestReportSkippedFilesBadAndMany(t *testing.T) {
	many := make([]any, 250)
	for i := range many {
		many[i] = map[string]any{"section": "authorized_keys", "path": fmt.Sprintf("/home/u%03d/.ssh/authorized_keys", i), "reason": "symlink", "target": "/etc/shadow"}
	}
	tests := []struct {
		name    string
		skipped any
		rows    int
		omitted int
		problem bool
		html    string // in the HTML report; "" when no table
	}{
		{"not a list", "oops", 0, 0, true, ""},
		{"null", nil, 0, 0, false, ""},
		{"empty", []any{}, 0, 0, false, ""},
		{"a record of the wrong type", []any{
			map[string]any{"section": "cron", "path": "/etc/cron.d/x", "reason": "symlink", "target": "/etc/shadow"},
			map[string]any{"section": "cron", "path": 42, "reason": "symlink", "size": "big"},
		}, 2, 0, true, `<code>/etc/cron.d/x</code>`},
		{"an unknown reason", []any{map[string]any{"section": "cron", "path": "/etc/cron.d/y", "reason": "<b>new</b>"}}, 1, 0, false,
			`<td>&lt;b&gt;new&lt;/b&gt;</td>`},
		{"250 links", many, 200, 50, false, `… 50 more not shown (the facts list them all)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := skippedFixture(t, tt.skipped)
			c := triageDigest(t, r)
			if len(c.Skipped) != tt.rows || c.SkippedOmitted != tt.omitted || (c.Problem != "") != tt.problem {
				t.Errorf("%d rows, %d omitted, problem %q", len(c.Skipped), c.SkippedOmitted, c.Problem)
			}
			md, html, _ := renderAll(t, r)
			hasTable := strings.Contains(html, "Files the triage did not read")
			if hasTable != (tt.html != "") || strings.Contains(md, "did not read") != hasTable {
				t.Errorf("table shown %v in HTML, %v in Markdown; want %v", hasTable, strings.Contains(md, "did not read"), tt.html != "")
			}
			if tt.html != "" && !strings.Contains(html, tt.html) {
				t.Errorf("HTML lacks %s", tt.html)
			}
			if n := strings.Count(md, "| ⚠ symbolic link"); tt.name == "250 links" && (n != 200 || !strings.Contains(md, "… 50 more not shown")) {
				t.Errorf("Markdown: %d rows of 250 links", n)
			}
		})
	}
}
