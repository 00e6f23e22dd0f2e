package testrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/lineage"
	"github.com/open-policy-agent/opa/v1/topdown/print"

	"github.com/cordonhq/cordon/engine/policy"
)

// RegoTestSuffix marks Rego test files.
const RegoTestSuffix = policy.TestSuffix

// Coverage is which lines of the Rego the unit tests evaluated, computed
// by OPA's cover package exactly as `opa test --coverage` computes it:
// over every module, the tests included.
type Coverage struct {
	Files           []*FileCoverage `json:"files"`
	CoveredLines    int             `json:"covered_lines"`
	NotCoveredLines int             `json:"not_covered_lines"`
	// Percent is the share of all lines covered (`opa test --coverage`'s
	// "coverage").
	Percent float64 `json:"coverage"`
	// PoliciesPercent leaves the test files out: how much of the policies
	// themselves the tests exercise.
	PoliciesPercent float64 `json:"policies_coverage"`
}

// FileCoverage is one file's coverage.
type FileCoverage struct {
	File            string      `json:"file"`
	Test            bool        `json:"test"`
	CoveredLines    int         `json:"covered_lines"`
	NotCoveredLines int         `json:"not_covered_lines"`
	Percent         float64     `json:"coverage"`
	NotCovered      []LineRange `json:"not_covered"`
}

// LineRange is an inclusive range of lines.
type LineRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

func (r LineRange) String() string {
	if r.Start == r.End {
		return fmt.Sprint(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// runRego runs the Rego unit tests: the configuration's policies (already
// parsed by the engine) with every *_test.rego under the policy paths,
// compiled as the engine compiles policies and run by OPA's tester.
//
// A test file that does not parse or compile is reported with its
// diagnostics and left out, and the others run without it.
func (r *runner) runRego(ctx context.Context, set *policy.Set, policyPaths []string) ([]*FileResult, *Coverage, map[string]*hcl.File) {
	sources := map[string]*hcl.File{}
	byFile := map[string]*FileResult{}
	fileResult := func(name string) *FileResult {
		fr := byFile[name]
		if fr == nil {
			fr = &FileResult{File: name, Kind: KindRego}
			byFile[name] = fr
		}
		return fr
	}

	rels, diags := policy.FindFiles(r.opts.FS, policyPaths, func(name string) bool {
		return strings.HasSuffix(name, RegoTestSuffix)
	})
	if diags.HasErrors() {
		fileResult(r.displayName(".")).Diagnostics = diags
	}
	modules := make(map[string]*ast.Module, len(set.Modules())+len(rels))
	for n, m := range set.Modules() {
		modules[n] = m
		sources[n] = set.Files()[n]
	}
	tests := map[string]bool{}
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, rel := range rels {
		name := r.displayName(rel)
		src, err := fs.ReadFile(r.opts.FS, rel)
		if err != nil {
			fileResult(name).Diagnostics = hcl.Diagnostics{{
				Severity: hcl.DiagError, Summary: "Cannot read test file", Detail: fmt.Sprintf("Reading %s: %v.", name, err),
			}}
			continue
		}
		sources[name] = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		m, err := ast.ParseModuleWithOpts(name, string(src), popts)
		if m == nil && err == nil || isEmptyModule(err) {
			rng := hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}
			fileResult(name).Diagnostics = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Empty Rego test file",
				Detail:   fmt.Sprintf("%s has no package declaration; every .rego file under the policy paths must be a Rego module.", name),
				Subject:  &rng,
			}}
			continue
		}
		if err != nil {
			fileResult(name).Diagnostics = regoDiagnostics(err, sources)
			continue
		}
		modules[name] = m
		tests[name] = true
	}

	if !r.anySelected(modules) {
		// -run leaves no Rego test: skip compiling them.
		tests = nil
	}

	var cov *Coverage
	// A compile error in a test file fails that file; the run is tried
	// again without it, so one broken file does not hide the others'
	// results. Errors outside the test files stop the Rego tests.
	for len(tests) > 0 {
		results, report, err := r.runTester(ctx, set, modules)
		if err == nil {
			for _, tr := range results {
				fr := fileResult(tr.File)
				fr.Tests = append(fr.Tests, tr)
			}
			if report != nil {
				cov = coverage(report, tests)
			}
			break
		}
		var errs ast.Errors
		if !errors.As(err, &errs) {
			fr := fileResult(r.displayName("."))
			fr.Diagnostics = append(fr.Diagnostics, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Cannot run the Rego tests", Detail: err.Error(),
			})
			break
		}
		retry := false
		for _, e := range errs {
			file := ""
			if e.Location != nil {
				file = e.Location.File
			}
			fr := fileResult(file)
			fr.Diagnostics = append(fr.Diagnostics, regoDiagnostic(e, sources))
			if tests[file] {
				delete(tests, file)
				delete(modules, file)
				retry = true
			}
		}
		if !retry {
			break
		}
	}

	out := make([]*FileResult, 0, len(byFile))
	for _, fr := range byFile {
		if fr.File == "" {
			fr.File = r.displayName(".")
		}
		sort.SliceStable(fr.Tests, func(i, j int) bool { return fr.Tests[i].Line < fr.Tests[j].Line })
		out = append(out, fr)
	}
	return out, cov, sources
}

// anySelected reports whether -run selects some test rule, naming rules as
// OPA's runner does (data.PKG.test_NAME).
func (r *runner) anySelected(modules map[string]*ast.Module) bool {
	if r.filter == nil {
		return true
	}
	for _, m := range modules {
		for _, rule := range m.Rules {
			var ref ast.Ref
			for _, t := range rule.Head.Ref().GroundPrefix() {
				ref = append(ref, t)
				var n string
				switch v := t.Value.(type) {
				case ast.Var:
					n = string(v)
				case ast.String:
					n = string(v)
				}
				if strings.HasPrefix(n, tester.TestPrefix) || strings.HasPrefix(n, tester.SkipTestPrefix) {
					if r.filter.MatchString(m.Package.Path.Extend(ref).String()) {
						return true
					}
					break
				}
			}
		}
	}
	return false
}

// runTester compiles modules with the tester's stages and runs the
// selected tests, or benchmarks them with Options.Bench.
func (r *runner) runTester(ctx context.Context, set *policy.Set, modules map[string]*ast.Module) ([]*TestResult, *cover.Report, error) {
	store := inmem.NewWithOpts(inmem.OptRoundTripOnWrite(false))
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer store.Abort(ctx, txn)

	// The engine's compiler settings (capabilities, input schema, Rego
	// v1), with print() kept so that tests can show what they print.
	compiler := set.NewCompiler().WithEnablePrintStatements(!r.opts.Bench)
	tr := tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		RaiseBuiltinErrors(true).
		StackTraces(true).
		CapturePrintOutput(!r.opts.Bench).
		SetTimeout(r.opts.Timeout).
		Filter(r.opts.Run)
	if r.opts.Verbose && !r.opts.Bench {
		tr.EnableTracing(true)
	}
	var cov *cover.Cover
	if r.opts.Coverage && !r.opts.Bench {
		// After EnableTracing, which would otherwise turn coverage off.
		cov = cover.New()
		tr.SetCoverageQueryTracer(cov)
	}

	var ch chan *tester.Result
	if r.opts.Bench {
		initTesting()
		tr.SetTimeout(max(r.opts.Timeout, 30*time.Second))
		ch, err = tr.RunBenchmarks(ctx, txn, tester.BenchmarkOptions{ReportAllocations: r.opts.BenchMem})
	} else {
		ch, err = tr.RunTests(ctx, txn)
	}
	if err != nil {
		return nil, nil, err
	}
	var results []*TestResult
	for res := range ch {
		results = append(results, r.regoResults(ctx, compiler, store, txn, res)...)
	}
	if cov == nil {
		return results, nil, nil
	}
	report := cov.Report(modules)
	return results, &report, nil
}

// regoResults converts one tester result: one test, or one per case of a
// parametrized test (as `opa test` counts them).
func (r *runner) regoResults(ctx context.Context, c *ast.Compiler, store storage.Store, txn storage.Transaction, res *tester.Result) []*TestResult {
	t := &TestResult{
		Name:     res.Name,
		Group:    res.Package,
		Duration: res.Duration,
		Output:   string(res.Output),
	}
	if res.Location != nil {
		t.File, t.Line = res.Location.File, res.Location.Row
	}
	if res.BenchmarkResult != nil {
		t.Benchmark = &BenchmarkResult{*res.BenchmarkResult}
	}
	switch {
	case res.Skip:
		t.Status = Skip
		t.Message = "todo_ test: skipped"
	case res.Error != nil:
		t.Status = Error
		t.Message, t.Diagnostics, t.Detail = evalError(res.Error)
	case res.Fail && len(res.SubResults) == 0:
		t.Status = Fail
		t.Message = "the test is false or undefined"
		trace := res.Trace
		if trace == nil && !r.opts.Bench {
			trace = r.traceTest(ctx, c, store, txn, res)
		}
		t.Detail = failureDetail(trace, r.opts.Verbose)
	}
	if len(res.SubResults) == 0 || res.Skip || res.Error != nil {
		return []*TestResult{t}
	}
	var out []*TestResult
	for names, sr := range res.SubResults.Iter {
		if len(sr.SubResults) > 0 {
			continue // only leaves are test cases
		}
		c := *t
		c.Name = t.Name + "/" + strings.Join(names, "/")
		c.Status = Pass
		if sr.Fail {
			c.Status = Fail
			c.Message = "the test case is false"
			c.Detail = failureDetail(sr.Trace, r.opts.Verbose)
		}
		out = append(out, &c)
	}
	return out
}

// traceTest evaluates a failed test again with a tracer, to show where
// it failed. Only failed tests pay for tracing.
func (r *runner) traceTest(ctx context.Context, c *ast.Compiler, store storage.Store, txn storage.Transaction, res *tester.Result) []*topdown.Event {
	ref, err := ast.ParseRef(res.Package + "." + res.Name)
	if err != nil {
		return nil // a renamed duplicate (test_x#01)
	}
	buf := topdown.NewBufferTracer()
	_, _ = rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Transaction(txn),
		rego.ParsedQuery(ast.NewBody(ast.NewExpr(ast.NewTerm(ref)))),
		rego.QueryTracer(buf),
		rego.PrintHook(discardPrints{}),
	).Eval(ast.WithCompiler(ctx, c))
	return *buf
}

type discardPrints struct{}

func (discardPrints) Print(print.Context, string) error { return nil }

// failureDetail shows the expression a failed test failed at, with the
// values of its variables (`opa test --var-values`), and with verbose the
// trace of notes and failures (`opa test -v`).
func failureDetail(trace []*topdown.Event, verbose bool) string {
	var b strings.Builder
	for _, e := range slices.Backward(trace) {
		if e.Op != topdown.FailOp || e.Location == nil || e.QueryID == 0 {
			continue
		}
		if expr, ok := e.Node.(*ast.Expr); ok {
			if _, every := expr.Terms.(*ast.Every); every {
				continue // the failing expression inside the every body comes first
			}
		}
		fmt.Fprintf(&b, "%s:%d: failed here:\n", e.Location.File, e.Location.Row)
		var ev bytes.Buffer
		if err := topdown.PrettyEvent(&ev, e, topdown.PrettyEventOpts{PrettyVars: true}); err == nil {
			// OPA indents with a tab; every line has one, so replacing
			// it keeps the | markers under their terms.
			writeIndented(&b, strings.TrimPrefix(strings.ReplaceAll("\n"+ev.String(), "\n\t", "\n"), "\n"), "  ")
		}
		break
	}
	if verbose {
		if events := lineage.Filter(trace, func(e *topdown.Event) bool {
			return e.Op == topdown.NoteOp || e.Op == topdown.FailOp
		}); len(events) > 0 {
			b.WriteString("trace:\n")
			var tb bytes.Buffer
			topdown.PrettyTraceWithOpts(&tb, events, topdown.PrettyTraceOptions{Locations: true})
			writeIndented(&b, tb.String(), "  ")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// evalError describes a test's evaluation error: a one-line message, a
// diagnostic at the failing call, and OPA's traceback.
func evalError(err error) (string, hcl.Diagnostics, string) {
	var te *topdown.Error
	if !errors.As(err, &te) {
		msg := err.Error()
		return firstLine(msg), nil, msg
	}
	d := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Rego evaluation error",
		Detail:   fmt.Sprintf("%s: %s.", te.Code, strings.TrimSuffix(te.Message, ".")),
	}
	if te.Location != nil && te.Location.File != "" {
		rng := locationRange(te.Location, nil)
		d.Subject = &rng
	}
	var tb strings.Builder
	if len(te.StackTrace) > 0 {
		tb.WriteString("traceback:\n")
		for _, f := range te.StackTrace {
			fmt.Fprintf(&tb, "  %v\n", f)
		}
	}
	return firstLine(te.Message), hcl.Diagnostics{d}, strings.TrimRight(tb.String(), "\n")
}

// coverage converts OPA's report, keeping the uncovered line ranges.
func coverage(rep *cover.Report, tests map[string]bool) *Coverage {
	c := &Coverage{
		Files:           make([]*FileCoverage, 0, len(rep.Files)),
		CoveredLines:    rep.CoveredLines,
		NotCoveredLines: rep.NotCoveredLines,
		Percent:         rep.Coverage,
	}
	covered, total := 0, 0
	for name, f := range rep.Files {
		fc := &FileCoverage{
			File:            name,
			Test:            tests[name] || strings.HasSuffix(name, RegoTestSuffix),
			CoveredLines:    f.CoveredLines,
			NotCoveredLines: f.NotCoveredLines,
			Percent:         f.Coverage,
			NotCovered:      []LineRange{},
		}
		fc.NotCovered = lineRanges(f.NotCovered)
		if !fc.Test {
			covered += f.CoveredLines
			total += f.CoveredLines + f.NotCoveredLines
		}
		c.Files = append(c.Files, fc)
	}
	sort.Slice(c.Files, func(i, j int) bool { return c.Files[i].File < c.Files[j].File })
	if total > 0 {
		c.PoliciesPercent = 100 * float64(covered) / float64(total)
	}
	return c
}

// lineRanges merges OPA's ranges (one per expression, often several on a
// line) into sorted, disjoint ranges of whole lines.
func lineRanges(rs []cover.Range) []LineRange {
	rows := map[int]bool{}
	for _, r := range rs {
		for row := r.Start.Row; row <= r.End.Row; row++ {
			rows[row] = true
		}
	}
	sorted := make([]int, 0, len(rows))
	for row := range rows {
		sorted = append(sorted, row)
	}
	sort.Ints(sorted)
	out := []LineRange{}
	for _, row := range sorted {
		if n := len(out); n > 0 && out[n-1].End == row-1 {
			out[n-1].End = row
			continue
		}
		out = append(out, LineRange{Start: row, End: row})
	}
	return out
}

func isEmptyModule(err error) bool {
	var errs ast.Errors
	if errors.As(err, &errs) && len(errs) == 1 && errs[0].Message == "empty module" {
		return true
	}
	var e *ast.Error
	return errors.As(err, &e) && e.Message == "empty module"
}

// regoDiagnostics converts a parse error, normally ast.Errors.
func regoDiagnostics(err error, sources map[string]*hcl.File) hcl.Diagnostics {
	var errs ast.Errors
	if errors.As(err, &errs) {
		out := make(hcl.Diagnostics, 0, len(errs))
		for _, e := range errs {
			out = append(out, regoDiagnostic(e, sources))
		}
		return out
	}
	var e *ast.Error
	if errors.As(err, &e) {
		return hcl.Diagnostics{regoDiagnostic(e, sources)}
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid Rego", Detail: err.Error()}}
}

// regoDiagnostic turns an OPA parse or compile error into a diagnostic
// with a source range, rendered with a snippet like any other.
func regoDiagnostic(e *ast.Error, sources map[string]*hcl.File) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: policy.ErrorSummary(e)}
	detail := strings.TrimSuffix(e.Message, ".") + "."
	if e.Details != nil {
		if _, parse := e.Details.(*ast.ParserErrorDetail); !parse {
			for _, l := range e.Details.Lines() {
				detail += "\n" + strings.TrimRight(l, " ")
			}
		}
	}
	d.Detail = detail
	if e.Location != nil && e.Location.File != "" {
		var src []byte
		if f := sources[e.Location.File]; f != nil {
			src = f.Bytes
		}
		rng := locationRange(e.Location, src)
		d.Subject = &rng
	}
	return d
}

// locationRange converts an OPA location to an HCL range on its first
// line, with byte offsets recomputed from src (when given) so that
// snippets highlight the right bytes.
func locationRange(loc *ast.Location, src []byte) hcl.Range {
	row, col := max(loc.Row, 1), max(loc.Col, 1)
	start := hcl.Pos{Line: row, Column: col, Byte: loc.Offset}
	if src != nil {
		start.Byte = byteOffset(src, row, col)
	}
	text := loc.Text
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	end := start
	end.Byte += len(text)
	end.Column += len([]rune(string(text)))
	return hcl.Range{Filename: loc.File, Start: start, End: end}
}

func byteOffset(src []byte, row, col int) int {
	off := 0
	for line := 1; line < row; line++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	return min(off+col-1, len(src))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func writeIndented(w io.Writer, s, indent string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			io.WriteString(w, "\n")
			continue
		}
		io.WriteString(w, indent+line+"\n")
	}
}
