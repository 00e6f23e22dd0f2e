package testrun

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cordonhq/cordon/internal/ui"
	"github.com/hashicorp/hcl/v2"
)

// PrettyOptions configure WritePretty.
type PrettyOptions struct {
	// Color adds ANSI colours; only for a terminal.
	Color bool
	// Verbose lists every test with its duration and print() output, and
	// the coverage of test files too.
	Verbose bool
}

// painter adds ANSI colour when enabled.
type painter bool

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
)

func (p painter) paint(code, s string) string {
	if !p || s == "" {
		return s
	}
	return code + s + "\x1b[0m"
}

// WritePretty writes the report for people, as `go test` does: a line per
// file, every failure in full above its file's line, and the summary last.
// What the policies planned quotes the test's finding, and print() output
// and failure messages can too: every such text goes through ui.Safe, or
// ui.SafeText where it spans lines, which are then indented.
// The configuration's own diagnostics (Report.Diagnostics) are not
// written: the caller shows them as it shows every other diagnostic.
func WritePretty(w io.Writer, rep *Report, opts PrettyOptions) error {
	bw := bufio.NewWriter(w)
	c := painter(opts.Color)
	width := 0
	for _, f := range rep.Files {
		width = max(width, len(ui.Safe(f.File)))
	}
	for _, f := range rep.Files {
		writePrettyFile(bw, rep, f, c, opts.Verbose, width)
	}
	if rep.Coverage != nil {
		writeCoverage(bw, rep.Coverage, c, opts.Verbose)
	}
	counts := rep.Counts()
	if len(rep.Files) > 0 || rep.Coverage != nil {
		bw.WriteString("\n")
	}
	summary := counts.String()
	if counts.Failed > 0 {
		summary = c.paint(ansiRed+ansiBold, summary)
	} else if counts.Passed > 0 {
		summary = c.paint(ansiGreen+ansiBold, summary)
	}
	bw.WriteString(summary + "\n")
	return bw.Flush()
}

func writePrettyFile(w *bufio.Writer, rep *Report, f *FileResult, c painter, verbose bool, width int) {
	if verbose {
		fmt.Fprintf(w, "=== %s\n", ui.Safe(f.File))
	}
	if len(f.Diagnostics) > 0 {
		if f.Invalid() {
			fmt.Fprintf(w, "--- %s: %s (invalid test file)\n", c.paint(ansiRed, "FAIL"), ui.Safe(f.File))
		}
		writeIndented(w, renderDiagnostics(f.Diagnostics, rep.Sources, c), "    ")
	}
	bench := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, t := range f.Tests {
		switch {
		case t.Benchmark != nil && t.Status == Pass:
			fmt.Fprintf(bench, "%s\t%s\n", ui.Safe(t.displayName()), benchmarkLine(t.Benchmark))
			continue
		case t.Status == Pass && !verbose, t.Status == Skip && !verbose:
			continue
		}
		bench.Flush()
		fmt.Fprintf(w, "--- %s: %s (%s, %s)\n", statusLabel(t.Status, c), ui.Safe(t.displayName()), ui.Safe(t.location()), formatDuration(t.Duration))
		if t.Status.Failed() {
			writeIndented(w, failureText(t, rep.Sources, c), "    ")
		} else if verbose {
			if len(t.Diagnostics) > 0 {
				writeIndented(w, renderDiagnostics(t.Diagnostics, rep.Sources, c), "    ")
			}
			if t.Output != "" {
				writeIndented(w, "print output:\n"+indent(ui.SafeText(t.Output), "  "), "    ")
			}
		}
		if t.Benchmark != nil {
			fmt.Fprintf(w, "    %s\n", benchmarkLine(t.Benchmark))
		}
	}
	bench.Flush()

	counts := f.Counts()
	status := c.paint(ansiGreen, "ok  ")
	if counts.Failed > 0 {
		status = c.paint(ansiRed, "FAIL")
	}
	what, took := fileSummary(counts), c.paint(ansiDim, formatDuration(f.Duration()))
	switch {
	case f.Invalid():
		what, took = "invalid", ""
	case counts.Total() == 0:
		what, took = "no tests", ""
	}
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%s  %-*s  %s  %s", status, width, ui.Safe(f.File), what, took), " "))
}

func statusLabel(s Status, c painter) string {
	switch s {
	case Pass:
		return c.paint(ansiGreen, "PASS")
	case Skip:
		return c.paint(ansiYellow, "SKIP")
	case Error:
		return c.paint(ansiRed, "ERROR")
	}
	return c.paint(ansiRed, "FAIL")
}

// fileSummary counts a file's tests, leaving out zeros after the first.
func fileSummary(c Counts) string {
	s := fmt.Sprintf("%d passed", c.Passed)
	if c.Failed > 0 {
		s += fmt.Sprintf(", %d failed", c.Failed)
	}
	if c.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", c.Skipped)
	}
	return s
}

// displayName is how reports name a test: the Rego test's full name, as
// `opa test` names it, or the run block.
func (t *TestResult) displayName() string {
	if strings.HasPrefix(t.Group, "data.") {
		return t.Group + "." + t.Name
	}
	return fmt.Sprintf("run %q", t.Name)
}

func (t *TestResult) location() string {
	if t.Line > 0 {
		return fmt.Sprintf("%s:%d", t.File, t.Line)
	}
	return t.File
}

// failureText explains a failed or errored test: the message, then what
// was expected and planned, the diagnostics with their source, the failed
// Rego expression, and print() output.
func failureText(t *TestResult, sources map[string]*hcl.File, c painter) string {
	var b strings.Builder
	if t.Scenario != nil {
		writeScenario(&b, t.Scenario, c)
	} else if t.Message != "" && len(t.Diagnostics) == 0 {
		b.WriteString(ui.SafeText(t.Message) + "\n")
	}
	if len(t.Diagnostics) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(renderDiagnostics(t.Diagnostics, sources, c))
	}
	if t.Detail != "" {
		b.WriteString(ui.SafeText(t.Detail) + "\n")
	}
	if t.Output != "" {
		b.WriteString("print output:\n" + indent(ui.SafeText(t.Output), "  "))
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// writeScenario shows each expectation that did not hold as expected
// against planned, lists as a diff.
func writeScenario(b *strings.Builder, s *ScenarioOutcome, c painter) {
	p := s.Planned
	for _, m := range s.Mismatches {
		switch m {
		case "verdict":
			fmt.Fprintf(b, "verdict: expected %s, planned %s\n", c.paint(ansiGreen, ui.Safe(fmt.Sprintf("%q", *s.Expected.Verdict))), c.paint(ansiRed, plannedVerdict(p)))
			writeVerdicts(b, p.Verdicts, c)
		case "rules":
			b.WriteString("rules (" + c.paint(ansiRed, "- expected") + ", " + c.paint(ansiGreen, "+ planned") + "):\n")
			writeDiff(b, s.Expected.Rules, p.Rules, c)
			if len(p.Rules) == 0 && len(p.Unmatched) > 0 {
				for _, u := range p.Unmatched {
					fmt.Fprintf(b, "  (unmatched finding %s)\n", ui.Safe(u))
				}
			}
		case "actions":
			b.WriteString("actions (" + c.paint(ansiRed, "- expected") + ", " + c.paint(ansiGreen, "+ planned") + "):\n")
			writeDiff(b, s.Expected.Actions, p.Actions, c)
			if !contains(s.Mismatches, "verdict") && len(p.Verdicts) > 0 {
				fmt.Fprintf(b, "planned with verdict %s\n", plannedVerdict(p))
				writeVerdicts(b, p.Verdicts, c)
			}
		case "errors":
			if s.Expected.Errors {
				fmt.Fprintf(b, "expected the plan to fail (expect_errors = true), but it has no errors; planned %s\n", plural(len(p.Actions), "action", "actions"))
				continue
			}
			b.WriteString("the plan has failed investigations:\n")
			for _, e := range p.Errors {
				fmt.Fprintf(b, "  %s %s\n", c.paint(ansiRed, "rule "+ui.Safe(e.Rule)+":"), ui.Safe(e.Summary))
				if e.Detail != "" {
					b.WriteString(indent(ui.SafeText(e.Detail), "    "))
				}
			}
		}
	}
	if len(s.Mismatches) == 0 {
		// Only assertions failed: say what was planned, for context.
		fmt.Fprintf(b, "planned: verdict %s; %s\n", plannedVerdict(p), plural(len(p.Actions), "action", "actions"))
	}
}

func plannedVerdict(p Planned) string {
	if len(p.Verdicts) == 0 {
		if len(p.Rules) == 0 {
			return "none (no rule matched the finding)"
		}
		return "none"
	}
	return ui.Safe(describeVerdicts(p.Verdicts))
}

func writeVerdicts(b *strings.Builder, vs []PlannedVerdict, c painter) {
	for _, v := range vs {
		conf := ""
		if v.Confidence != nil {
			conf = fmt.Sprintf(", confidence %.2f", *v.Confidence)
		}
		fmt.Fprintf(b, "  rule %s: %s%s\n", ui.Safe(v.Rule), ui.Safe(v.Verdict), conf)
		for _, r := range v.Reasons {
			fmt.Fprintf(b, "    - %s\n", ui.Safe(r))
		}
	}
}

// writeDiff writes want against got as a line diff: common lines
// unmarked, lines only expected with -, lines only planned with +.
func writeDiff(b *strings.Builder, want, got []string, c painter) {
	lines := diff(want, got)
	if len(lines) == 0 {
		b.WriteString("    (none)\n")
	}
	for _, l := range lines {
		text := ui.Safe(l.text)
		switch l.op {
		case '-':
			b.WriteString(c.paint(ansiRed, "  - "+text) + "\n")
		case '+':
			b.WriteString(c.paint(ansiGreen, "  + "+text) + "\n")
		default:
			b.WriteString("    " + text + "\n")
		}
	}
}

type diffLine struct {
	op   byte // ' ', '-', '+'
	text string
}

// diff is a longest-common-subsequence diff of two short lists.
func diff(a, b []string) []diffLine {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	out := make([]diffLine, 0, n+m)
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, diffLine{' ', a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{'-', a[i]})
			i++
		default:
			out = append(out, diffLine{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{'-', a[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{'+', b[j]})
	}
	return out
}

func writeCoverage(w *bufio.Writer, cov *Coverage, c painter, verbose bool) {
	fmt.Fprintf(w, "\nCoverage:\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	for _, f := range cov.Files {
		if f.Test && !verbose {
			continue
		}
		name := ui.Safe(f.File)
		if f.Test {
			name += " (test)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d/%d lines\t\n", name, colorPercent(c, f.Percent), f.CoveredLines, f.CoveredLines+f.NotCoveredLines)
	}
	tw.Flush()
	for _, f := range cov.Files {
		if len(f.NotCovered) == 0 || (f.Test && !verbose) {
			continue
		}
		ranges := make([]string, len(f.NotCovered))
		for i, r := range f.NotCovered {
			ranges[i] = r.String()
		}
		fmt.Fprintf(w, "  %s not covered: lines %s\n", ui.Safe(f.File), strings.Join(ranges, ", "))
	}
	fmt.Fprintf(w, "  total %s of %d lines (policies alone: %s)\n",
		colorPercent(c, cov.Percent), cov.CoveredLines+cov.NotCoveredLines, colorPercent(c, cov.PoliciesPercent))
}

func colorPercent(c painter, p float64) string {
	s := fmt.Sprintf("%.1f%%", p)
	switch {
	case p >= 100:
		return c.paint(ansiGreen, s)
	case p < 80:
		return c.paint(ansiRed, s)
	}
	return c.paint(ansiYellow, s)
}

func benchmarkLine(b *BenchmarkResult) string {
	s := b.BenchmarkResult.String()
	if b.MemAllocs > 0 || b.MemBytes > 0 {
		s += "\t" + b.MemString()
	}
	return s
}

// renderDiagnostics renders diagnostics as cordon renders every
// diagnostic: summary, source snippet, the values an expression refers
// to, detail; summary and detail made safe, as ui.WriteDiagnostics does.
func renderDiagnostics(diags hcl.Diagnostics, sources map[string]*hcl.File, c painter) string {
	var buf bytes.Buffer
	hcl.NewDiagnosticTextWriter(&buf, sources, 0, bool(c)).WriteDiagnostics(ui.SafeDiagnostics(diags))
	return strings.TrimRight(buf.String(), "\n") + "\n"
}

func indent(s, prefix string) string {
	var b strings.Builder
	writeIndented(&b, s, prefix)
	return b.String()
}

// formatDuration rounds a duration for reading: 12µs, 1.4ms, 2.31s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
