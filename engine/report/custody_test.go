package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/engine/state"
)

// render writes r in the three formats.
func render(t *testing.T, r *report.Report) (md, html, js string) {
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

// The report lists the custody log with its head, verified against the
// evidence; a broken log says where, in every format, and in the notes.
func TestReportCustody(t *testing.T) {
	fx := load(t, "cryptominer")
	head := state.CustodyHead(fx.Custody)
	for _, tc := range []struct {
		name    string
		tamper  func(entries []state.CustodyEntry, ev []state.Evidence) ([]state.CustodyEntry, []state.Evidence)
		problem state.CustodyProblem
		seq     int64
	}{
		{name: "sound"},
		{name: "entry edited", tamper: func(e []state.CustodyEntry, ev []state.Evidence) ([]state.CustodyEntry, []state.Evidence) {
			e[2].Name = "describe-2"
			return e, ev
		}, problem: state.CustodyEdited, seq: 3},
		{name: "screenshot changed", tamper: func(e []state.CustodyEntry, ev []state.Evidence) ([]state.CustodyEntry, []state.Evidence) {
			for i := range ev {
				if ev[i].Kind == "screenshot" {
					ev[i].Data = append([]byte(nil), ev[i].Data...)
					ev[i].Data[100] ^= 1
				}
			}
			return e, ev
		}, problem: state.CustodyEvidenceChanged, seq: 7},
		{name: "entry deleted", tamper: func(e []state.CustodyEntry, ev []state.Evidence) ([]state.CustodyEntry, []state.Evidence) {
			return append(e[:3:3], e[4:]...), ev
		}, problem: state.CustodyDeleted, seq: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := append([]state.CustodyEntry(nil), fx.Custody...)
			evidence := append([]state.Evidence(nil), fx.Evidence...)
			if tc.tamper != nil {
				entries, evidence = tc.tamper(entries, evidence)
			}
			r := report.Build(fx.Detail, evidence, fx.CollectorTypes)
			r.AddCustody(entries, evidence)
			md, html, js := render(t, r)
			var doc struct {
				Custody struct {
					Entries []struct {
						Seq                      int64
						Kind, Name, SHA256, Hash string
						PrevHash                 string `json:"prev_hash"`
					}
					Head     string
					Verified *bool
					Break    *state.CustodyBreak
				}
				Notes []string
			}
			if err := json.Unmarshal([]byte(js), &doc); err != nil {
				t.Fatal(err)
			}
			c := doc.Custody
			if len(c.Entries) != len(entries) || c.Verified == nil || c.Head != state.CustodyHead(entries) {
				t.Fatalf("JSON custody = %+v", c)
			}
			for i, e := range c.Entries {
				if e.Seq != entries[i].Seq || e.Hash != entries[i].Hash || e.PrevHash != entries[i].PrevHash || e.Name != entries[i].Name {
					t.Errorf("JSON entry %d = %+v, want %+v", i, e, entries[i])
				}
			}
			for _, want := range []string{"## Chain of custody", "Chain head `" + c.Head + "`", "| 1 | facts | `acquire` |"} {
				if !strings.Contains(md, want) {
					t.Errorf("Markdown lacks %q", want)
				}
			}
			for _, want := range []string{`<section id="custody"`, `<a href="#custody">Custody <span class="n">`, `<code class="hash">` + c.Head + `</code>`} {
				if !strings.Contains(html, want) {
					t.Errorf("HTML lacks %q", want)
				}
			}
			if tc.problem == "" {
				if !*c.Verified || c.Break != nil || len(doc.Notes) != 0 || c.Head != head || !strings.Contains(md, "(9 entries) ✔ verified.") {
					t.Errorf("a sound log: verified %v, break %+v, notes %q", *c.Verified, c.Break, doc.Notes)
				}
				return
			}
			if *c.Verified || c.Break == nil || c.Break.Problem != tc.problem || c.Break.Seq != tc.seq {
				t.Fatalf("verified %v, break %+v, want %s at %d", *c.Verified, c.Break, tc.problem, tc.seq)
			}
			if !strings.Contains(strings.Join(doc.Notes, "\n"), "The chain of custody is broken at entry") {
				t.Errorf("notes %q", doc.Notes)
			}
			if !strings.Contains(md, "✘ DOES NOT MATCH") || !strings.Contains(md, "> **Broken at entry") {
				t.Error("the Markdown does not show the break")
			}
			if !strings.Contains(html, `<span class="res r-bad">does not match</span>`) || !strings.Contains(html, `<p class="err"><strong>Broken at entry`) {
				t.Error("the HTML does not show the break")
			}
		})
	}
}

// A report built without the log, and one of an incident with no
// evidence, say so; the JSON keeps its keys.
func TestReportCustodyEmpty(t *testing.T) {
	fx := load(t, "iam_credentials")
	unread := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
	empty := report.Build(fx.Detail, nil, fx.CollectorTypes)
	empty.AddCustody(nil, nil)
	for name, r := range map[string]*report.Report{"not read": unread, "empty": empty} {
		md, html, js := render(t, r)
		if !strings.Contains(md, "No custody entries were recorded.") || !strings.Contains(html, "No custody entries were recorded.") {
			t.Errorf("%s: the empty log is not said to be empty", name)
		}
		if !strings.Contains(js, `"custody": {`) || !strings.Contains(js, `"entries": []`) || !strings.Contains(js, `"head": ""`) {
			t.Errorf("%s: JSON custody:\n%s", name, js)
		}
	}
	if empty.Custody.Verified == nil || !*empty.Custody.Verified || unread.Custody.Verified != nil {
		t.Errorf("verified: empty %v, unread %v", empty.Custody.Verified, unread.Custody.Verified)
	}
}
