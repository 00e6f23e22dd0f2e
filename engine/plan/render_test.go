package plan

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/internal/ui"
)

// hostileText is what a finding's author can put in any string: escapes
// that clear the screen, a carriage return and backspaces that overwrite,
// an OSC 8 hyperlink, C1 CSI, bidi overrides and isolates, a line
// separator, a zero-width space, invalid UTF-8, and a newline followed by
// a line that looks like a planned action.
var hostileText = []string{
	"\x1b[2J\x1b[H",
	"benign\rmalicious",
	"stop\b\b\b\bnone",
	"\x1b]8;;https://attacker.example/\x07approve\x1b]8;;\x07",
	"\u009b31m",
	"gnp.\u202eexe \u2066x\u2069",
	"a\u2028b\u2029c",
	"i-0a1b\u200b2c",
	"bad \xff\xfe utf-8",
	"x\n  # action.stop[\"i-0fake\"] (aws_ec2_stop, disrupt)",
}

// planWith returns a plan with s in every string a finding, its facts or a
// policy can set.
func planWith(s func() string) *Plan {
	conf := 0.9
	p := &Plan{
		FormatVersion: FormatVersion,
		Incidents: []*Incident{{
			ID: "inc-1",
			Finding: FindingSummary{ID: s(), Source: "guardduty", Type: s(), Severity: s(), Account: s(), Region: s(),
				Resource: ResourceRef{Type: s(), ID: s()}, Sample: true},
			Matches: []Match{{Rule: s(), Scope: s()}, {Rule: s(), Scope: s()}},
			Verdicts: []Verdict{
				{Rule: s(), Verdict: s(), Confidence: &conf, Reasons: []string{s(), s()}, RootCause: s(), Impact: s()},
				{Rule: s(), Verdict: "malicious", Reasons: []string{s()}},
			},
			Errors: []IncidentError{{Rule: s(), Summary: s(), Detail: s() + "\n" + s()}},
			Actions: []*Action{{
				Address: Address("stop", s()), Action: "stop", Type: s(), Phase: s(), Approval: "manual",
				Change: actions.Change{
					Before: map[string]any{"state": s(), "tags": map[string]any{s(): s()}, s(): []any{s(), 1.0}},
					After:  map[string]any{"state": s(), "tags": map[string]any{s(): s(), "k": s()}, s(): []any{s()}},
				},
				Rules: []string{s(), s()},
			}},
		}},
		Unmatched: []*Unmatched{
			{FindingID: s(), Reason: s()},
			{FindingID: s(), Reason: ReasonNoRuleMatched, Source: s(), Type: s(), Severity: s(), Sample: true,
				Resource:   &UnmatchedTarget{Type: s(), ID: s(), Account: s(), Region: s()},
				NearMisses: []NearMiss{{Rule: s(), Scope: s(), Why: s()}, {Rule: s(), Why: s()}}},
		},
	}
	p.Recount(2)
	return p
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// TestRenderHostile renders a plan with hostile text everywhere and checks
// that no control, bidi or line-breaking character reaches the output,
// that the plan has the lines of the same plan with harmless text (an
// error's detail aside, which may span lines), and that colour, which
// cordon paints, still works.
func TestRenderHostile(t *testing.T) {
	for _, h := range hostileText {
		n := 0
		hostile := planWith(func() string { n++; return h })
		plain := planWith(func() string { n++; return "value" })
		for _, color := range []bool{false, true} {
			var hb, pb bytes.Buffer
			if err := hostile.Render(&hb, RenderOptions{Color: color}); err != nil {
				t.Fatal(err)
			}
			if err := plain.Render(&pb, RenderOptions{Color: color}); err != nil {
				t.Fatal(err)
			}
			out := hb.String()
			if color && !strings.Contains(out, ansiBold) {
				t.Errorf("%q: no colour in a coloured rendering", h)
			}
			text := out
			if color {
				// Only cordon's own colour codes may remain; take them out
				// and no escape is left.
				text = ansi.ReplaceAllString(out, "")
			}
			for _, line := range strings.Split(text, "\n") {
				if ui.Safe(line) != line {
					t.Errorf("%q (colour %v): unsafe line %q", h, color, line)
				}
				if strings.HasPrefix(line, `  # action.stop["i-0fake"]`) {
					t.Errorf("%q (colour %v): a value forged the line %q", h, color, line)
				}
			}
			// An error's detail is free text: a newline in it starts
			// another indented line of the detail, and nothing else does.
			extra := 2 * strings.Count(h, "\n")
			if got, want := strings.Count(out, "\n"), strings.Count(pb.String(), "\n")+extra; got != want {
				t.Errorf("%q (colour %v): %d lines, the same plan with plain values has %d:\n%s", h, color, got, want, text)
			}
		}
	}
}

// TestRenderShowsEscapes checks what a reviewer sees: the escape, where
// the character was.
func TestRenderShowsEscapes(t *testing.T) {
	p := &Plan{Incidents: []*Incident{{
		Finding: FindingSummary{ID: "f-1", Type: "Backdoor:EC2/X\x1b[2J", Severity: "high",
			Resource: ResourceRef{Type: "aws_instance", ID: "i-1\u202e"}},
		Verdicts: []Verdict{{Rule: "r", Verdict: "malicious", Reasons: []string{"line\n  # action.stop[\"i-2\"]"}}},
		Actions: []*Action{{Address: Address("stop", "i-1\rX"), Type: "aws_ec2_stop", Phase: "disrupt",
			Change: actions.Change{Before: map[string]any{"state": "running"}, After: map[string]any{"state": "stopped\x07"}}}},
	}}}
	var b bytes.Buffer
	if err := p.Render(&b, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Finding f-1 · Backdoor:EC2/X\\x1b[2J · high\n",
		"  resource  aws_instance.i-1\\u202e (-, -)\n",
		"              - line\\n  # action.stop[\"i-2\"]\n",
		"  # action.stop[\"i-1\\rX\"] (aws_ec2_stop, disrupt)\n",
		"  ~ state = \"running\" -> \"stopped\\x07\"\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("rendering lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRenderKeepsOrdinaryText checks that text in other scripts and emoji
// are shown as they are.
func TestRenderKeepsOrdinaryText(t *testing.T) {
	p := &Plan{Incidents: []*Incident{{
		Finding:  FindingSummary{ID: "f-1", Type: "Recon:EC2/Zürich", Severity: "high", Region: "東京"},
		Verdicts: []Verdict{{Rule: "r", Verdict: "suspicious", Reasons: []string{"⚠️ 👩‍💻 سلام"}}},
	}}}
	var b bytes.Buffer
	if err := p.Render(&b, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Recon:EC2/Zürich", "(-, 東京)", "- ⚠️ 👩‍💻 سلام\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("rendering lacks %q:\n%s", want, b.String())
		}
	}
}

// TestWriteJSONKeepsHostileText checks that the JSON form, for programs,
// carries every value exactly: only JSON's own escaping applies.
func TestWriteJSONKeepsHostileText(t *testing.T) {
	for _, h := range hostileText {
		if !strings.Contains(h, "\xff") { // JSON has no invalid UTF-8
			p := planWith(func() string { return h })
			var b bytes.Buffer
			if err := p.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			var back Plan
			if err := json.Unmarshal(b.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			f := back.Incidents[0].Finding
			if f.Type != h || f.Resource.ID != h || back.Incidents[0].Verdicts[0].Reasons[0] != h ||
				back.Incidents[0].Actions[0].Address != Address("stop", h) || back.Unmatched[0].Reason != h {
				t.Errorf("%q did not survive JSON: %+v", h, f)
			}
		}
	}
}
