package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/internal/ui"
)

// RenderOptions control the human rendering.
type RenderOptions struct {
	// Color enables ANSI colour (only on a terminal, never with -no-color).
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return code + s + ansiReset
}

// Render writes the plan as a person reviews it (docs/plan-and-apply.md): each incident
// with its resource, matches and verdicts, then its actions with before →
// after, then a one-line summary. Every value from the finding, its facts
// or a policy goes through ui.Safe (ui.SafeText for an error's detail),
// so none can repaint the plan being approved.
func (p *Plan) Render(w io.Writer, opts RenderOptions) error {
	c := painter(opts.Color)
	var b strings.Builder
	renderWarnings(&b, c, p.Warnings)
	for i, inc := range p.Incidents {
		if i > 0 {
			b.WriteString("\n")
		}
		renderIncident(&b, c, inc)
	}
	if len(p.Unmatched) > 0 {
		if len(p.Incidents) > 0 {
			b.WriteString("\n")
		}
		b.WriteString(c.paint(ansiBold, "Findings no rule matched:") + "\n")
		for _, u := range p.Unmatched {
			renderUnmatched(&b, c, u)
		}
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	s := p.Summary
	withheld := ""
	if s.Withheld > 0 {
		withheld = ", " + c.paint(ansiYellow, strconv.Itoa(s.Withheld)+" withheld")
	}
	unmatched := plural(s.Unmatched, "finding", "findings") + " unmatched"
	degraded := ""
	if n := len(p.Warnings); n > 0 {
		degraded = ", " + c.paint(ansiYellow, "planned with "+plural(n, "collector failure", "collector failures"))
	}
	switch {
	case s.Errors > 0:
		fmt.Fprintf(&b, "%s %d to apply%s, %s%s, %s.\n",
			c.paint(ansiBold, "Plan:"), s.Actions, withheld, unmatched, degraded, c.paint(ansiRed, plural(s.Errors, "investigation", "investigations")+" failed"))
	case s.Actions == 0 && s.Withheld == 0:
		fmt.Fprintf(&b, "%s No actions to take; %s%s.\n", c.paint(ansiBold, "Plan:"), unmatched, degraded)
	default:
		fmt.Fprintf(&b, "%s %d to apply%s, %s%s.\n", c.paint(ansiBold, "Plan:"), s.Actions, withheld, unmatched, degraded)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func renderIncident(b *strings.Builder, c painter, inc *Incident) {
	f := inc.Finding
	id := f.ID
	if id == "" {
		id = "(no id)"
	}
	sample := ""
	if f.Sample {
		sample = " · " + c.paint(ansiYellow, "sample finding")
	}
	fmt.Fprintf(b, "%s · %s · %s%s\n", c.paint(ansiBold, "Finding "+ui.Safe(id)), ui.Safe(f.Type), ui.Safe(f.Severity), sample)
	fmt.Fprintf(b, "  resource  %s.%s (%s, %s)\n", orDash(f.Resource.Type), orDash(f.Resource.ID), orDash(f.Account), orDash(f.Region))
	for i, m := range inc.Matches {
		label := "matched "
		if i > 0 {
			label = "        "
		}
		fmt.Fprintf(b, "  %s  rule.%s via scope.%s\n", label, ui.Safe(m.Rule), ui.Safe(m.Scope))
	}
	for _, v := range inc.Verdicts {
		line := verdictColor(c, v.Verdict)
		if v.Confidence != nil {
			line += fmt.Sprintf(" (confidence %.2f)", *v.Confidence)
		}
		if len(inc.Verdicts) > 1 {
			line += " by rule." + ui.Safe(v.Rule)
		}
		fmt.Fprintf(b, "  verdict   %s\n", line)
		for _, r := range v.Reasons {
			fmt.Fprintf(b, "              - %s\n", ui.Safe(r))
		}
		if v.RootCause != "" {
			fmt.Fprintf(b, "  cause     %s\n", ui.Safe(v.RootCause))
		}
		if v.Impact != "" {
			fmt.Fprintf(b, "  impact    %s\n", ui.Safe(v.Impact))
		}
	}
	for _, e := range inc.Errors {
		fmt.Fprintf(b, "  %s     rule.%s: %s\n", c.paint(ansiRed, "error"), ui.Safe(e.Rule), ui.Safe(e.Summary))
		if e.Detail != "" {
			for _, l := range strings.Split(ui.SafeText(e.Detail), "\n") {
				fmt.Fprintf(b, "              %s\n", l)
			}
		}
	}
	if len(inc.Actions) == 0 && len(inc.Errors) == 0 && len(inc.Withheld) == 0 {
		b.WriteString("\n  No actions.\n")
	}
	if len(inc.Actions) > 0 {
		b.WriteString("\ncordon will perform the following actions:\n")
		for _, a := range inc.Actions {
			b.WriteString("\n")
			renderAction(b, c, a)
		}
	}
	renderWithheld(b, c, inc.Withheld)
}

// renderUnmatched writes a finding that made no incident and why; for one
// no rule matched, what it is and each rule's near miss (the rules that
// take its source and type, and what kept them from matching):
//
//	Findings no rule matched:
//	  - 60baffd3… (no rule matched)
//	      finding   guardduty · Backdoor:EC2/C&CActivity.B!DNS · high
//	      resource  aws_instance.i-99999999 (123456789012, eu-west-1)
//	      near miss rule.ec2_compromise via scope.prod_web: region "eu-west-1" is not in regions ["us-*"]
func renderUnmatched(b *strings.Builder, c painter, u *Unmatched) {
	fmt.Fprintf(b, "  - %s (%s)\n", ui.Safe(u.FindingID), ui.Safe(u.Reason))
	if u.Resource == nil {
		return
	}
	sample := ""
	if u.Sample {
		sample = " · sample finding"
	}
	fmt.Fprintf(b, "      finding   %s · %s · %s%s\n", orDash(u.Source), orDash(u.Type), orDash(u.Severity), sample)
	r := u.Resource
	fmt.Fprintf(b, "      resource  %s.%s (%s, %s)\n", orDash(r.Type), orDash(r.ID), orDash(r.Account), orDash(r.Region))
	if u.Reason != ReasonNoRuleMatched {
		return
	}
	if len(u.NearMisses) == 0 {
		b.WriteString("      " + c.paint(ansiDim, "no rule takes its source and type (sources, finding_types)") + "\n")
		return
	}
	for _, m := range u.NearMisses {
		where := "rule." + ui.Safe(m.Rule)
		if m.Scope != "" {
			where += " via scope." + ui.Safe(m.Scope)
		}
		fmt.Fprintf(b, "      near miss %s: %s\n", where, ui.Safe(m.Why))
	}
}

// renderWarnings opens the plan with the collectors that failed, grouped
// by cause, as Terraform opens a plan with its warnings: a plan made
// without the evidence it asked for must not read as a normal one.
//
//	Warning: collectors failed, so policies judged without their facts
//
//	  collector triage failed for 12 findings: cannot call AWS in account 123456789012: dial tcp …: connection refused
func renderWarnings(b *strings.Builder, c painter, ws []*Warning) {
	if len(ws) == 0 {
		return
	}
	title := "a collector failed, so policies judged without its facts"
	if len(ws) > 1 {
		title = "collectors failed, so policies judged without their facts"
	}
	fmt.Fprintf(b, "%s %s\n\n", c.paint(ansiYellow+ansiBold, "Warning:"), title)
	for _, w := range ws {
		fmt.Fprintf(b, "  collector %s failed for %s: %s\n", ui.Safe(w.Collector), plural(w.Findings, "finding", "findings"), ui.Safe(w.Detail))
	}
	b.WriteString("\n  Their policies saw {\"error\": …} in place of these facts, and planned what follows on that.\n  Fix the cause and plan again to act on the evidence.\n\n")
}

// renderWithheld writes the actions max_actions_per_hour withheld, as
// Terraform writes its warnings: set apart, and saying why.
func renderWithheld(b *strings.Builder, c painter, ws []*Withheld) {
	if len(ws) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s cordon will not perform these actions:\n", c.paint(ansiYellow+ansiBold, "Warning:"))
	for _, w := range ws {
		fmt.Fprintf(b, "\n  %s\n", c.paint(ansiYellow, fmt.Sprintf("# %s withheld: %s", ui.Safe(w.Address), ui.Safe(w.Reason))))
	}
}

// orDash shows a value, or - when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return ui.Safe(s)
}

func verdictColor(c painter, v string) string {
	v = ui.Safe(v)
	switch v {
	case "malicious":
		return c.paint(ansiRed+ansiBold, v)
	case "suspicious":
		return c.paint(ansiYellow, v)
	case "benign":
		return c.paint(ansiGreen, v)
	}
	return v
}

// renderAction writes one action: a comment line with its address, type
// and phase, then one line per changed attribute. Unchanged attributes are
// hidden, as Terraform hides them.
func renderAction(b *strings.Builder, c painter, a *Action) {
	header := fmt.Sprintf("  # %s (%s, %s)", ui.Safe(a.Address), ui.Safe(a.Type), ui.Safe(a.Phase))
	if a.Approval == "manual" {
		header += " — needs manual approval"
	}
	b.WriteString(c.paint(ansiBold, header) + "\n")
	renderChange(b, c, a.Change)
	if len(a.Rules) > 1 {
		fmt.Fprintf(b, "    %s\n", c.paint(ansiDim, "(planned by rules "+ui.Safe(strings.Join(a.Rules, ", "))+")"))
	}
}

// RenderChange writes a change's attribute lines.
func RenderChange(w io.Writer, ch actions.Change, opts RenderOptions) error {
	var b strings.Builder
	renderChange(&b, painter(opts.Color), ch)
	_, err := io.WriteString(w, b.String())
	return err
}

func renderChange(b *strings.Builder, c painter, ch actions.Change) {
	bu, au := set(ch.BeforeUnknown), set(ch.AfterUnknown)
	keys := map[string]bool{}
	for k := range ch.Before {
		keys[k] = true
	}
	for k := range ch.After {
		keys[k] = true
	}
	for k := range bu {
		keys[k] = true
	}
	for k := range au {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	width := 0
	for _, k := range names {
		_, hasBefore := ch.Before[k]
		_, hasAfter := ch.After[k]
		if au[k] || bu[k] || !hasBefore || !hasAfter || !equal(ch.Before[k], ch.After[k]) {
			width = max(width, len(ui.Safe(k)))
		}
	}
	const unknown = "(known after apply)"
	for _, k := range names {
		before, hasBefore := ch.Before[k]
		after, hasAfter := ch.After[k]
		name := ui.Safe(k)
		pad := name + strings.Repeat(" ", max(0, width-len(name)))
		switch {
		case au[k] && !hasBefore && !bu[k]:
			fmt.Fprintf(b, "  %s %s = %s\n", c.paint(ansiGreen, "+"), pad, unknown)
		case au[k] && (bu[k] || !hasBefore):
			fmt.Fprintf(b, "  %s %s = %s\n", c.paint(ansiYellow, "~"), pad, unknown)
		case au[k]:
			fmt.Fprintf(b, "  %s %s = %s -> %s\n", c.paint(ansiYellow, "~"), pad, value(before), unknown)
		case bu[k]:
			fmt.Fprintf(b, "  %s %s = %s -> %s\n", c.paint(ansiYellow, "~"), pad, unknown, value(after))
		case !hasBefore && hasAfter:
			fmt.Fprintf(b, "  %s %s = %s\n", c.paint(ansiGreen, "+"), pad, value(after))
		case hasBefore && !hasAfter:
			fmt.Fprintf(b, "  %s %s = %s\n", c.paint(ansiRed, "-"), pad, value(before))
		case equal(before, after):
			// unchanged: hidden
		default:
			fmt.Fprintf(b, "  %s %s = %s -> %s\n", c.paint(ansiYellow, "~"), pad, value(before), value(after))
		}
	}
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func equal(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// value renders a JSON value in HCL syntax, as Terraform shows attribute
// values: strings quoted, lists in brackets, maps in braces; made safe for
// the terminal, as its strings come from the finding and its facts.
func value(v any) string { return ui.Safe(hclValue(v)) }

func hclValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return quote(v)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case json.Number:
		return v.String()
	case []string:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = quote(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = hclValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		if len(v) == 0 {
			return "{}"
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = mapKey(k) + " = " + hclValue(v[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = e
		}
		return hclValue(m)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("%v", v)
		}
		return string(j)
	}
}

// mapKey renders a map key bare when it is an identifier, quoted otherwise.
func mapKey(k string) string {
	if k == "" {
		return `""`
	}
	for i, r := range k {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (i > 0 && (r == '-' || r >= '0' && r <= '9'))
		if !ok {
			return quote(k)
		}
	}
	return k
}

// RenderActions writes actions as Render shows them, for revert plans and
// state records.
func RenderActions(w io.Writer, as []*Action, opts RenderOptions) error {
	var b strings.Builder
	for i, a := range as {
		if i > 0 {
			b.WriteString("\n")
		}
		renderAction(&b, painter(opts.Color), a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
