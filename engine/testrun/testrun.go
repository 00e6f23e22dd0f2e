// Package testrun runs a configuration's tests, offline and without
// credentials (docs/testing.md, `cordon test`):
//
//   - the Rego unit tests (test_ rules in *_test.rego under the policy
//     paths), through OPA's own test runner, compiled exactly as the engine
//     compiles the policies (Rego v1, cordon's capabilities, the input
//     schema), so a test passes here only if the policy works in cordon;
//   - the scenario tests (run blocks in *.test.hcl files in the
//     configuration directory and its tests/ directory), each of which plans
//     a recorded finding with recorded facts through the real engine
//     (normalize, match, verdict, response, plan) and checks the plan
//     against its expect block and assert conditions.
//
// Run returns a Report; the reporters render it for people (pretty), for
// programs (JSON) and for CI test reports (JUnit XML). A broken test file
// is a failed test with its diagnostic, never an abort: every other file
// still runs.
package testrun

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/schema"
)

// Options configure Run.
type Options struct {
	// Dir is the configuration directory (default ".").
	Dir string
	// FS reads the configuration and everything a test names; default
	// os.DirFS(Dir), in which case scenario files may also name paths
	// outside the directory.
	FS fs.FS
	// Vars and VarFiles are -var and -var-file, as for plan; a scenario's
	// variables override them.
	Vars, VarFiles []string
	// Getenv looks up CORDON_VAR_name and env(); default os.LookupEnv.
	Getenv func(string) (string, bool)

	// Run selects tests by regular expression: a Rego test by its full
	// name (data.cordon.lib_test.test_usable, as `opa test -r`), a scenario
	// by its file, relative to Dir, and run name
	// (tests/ec2.test.hcl/miner_is_isolated). Empty runs everything.
	Run string
	// Coverage records which lines of the policies the Rego tests evaluate.
	Coverage bool
	// Verbose keeps every test's print() output and, for failed Rego
	// tests, their evaluation trace.
	Verbose bool
	// Bench runs each selected test as a benchmark instead (OPA's
	// benchmarking for Rego tests; the plan of a scenario for run blocks).
	Bench bool
	// BenchMem reports allocations of benchmarks.
	BenchMem bool
	// Timeout bounds each Rego test (default 5s, as `opa test`).
	Timeout time.Duration
}

// Kind tells Rego unit tests and scenario tests apart.
type Kind string

// Kinds of test file.
const (
	KindRego     Kind = "rego"
	KindScenario Kind = "scenario"
)

// Status is a test's outcome.
type Status int

// Outcomes. Fail is a test that ran and did not hold; Error is one that
// could not run to its end (an evaluation error, an unreadable finding, a
// condition that does not evaluate). Both count as failed.
const (
	Pass Status = iota
	Fail
	Error
	Skip
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Error:
		return "error"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Failed reports whether the status counts as a failed test.
func (s Status) Failed() bool { return s == Fail || s == Error }

// Report is the outcome of a test run.
type Report struct {
	// Files holds one result per test file that has tests or is invalid,
	// sorted by name.
	Files []*FileResult
	// Coverage is set with Options.Coverage when the Rego tests ran.
	Coverage *Coverage
	// Diagnostics are about the configuration as a whole. With an error
	// among them, the configuration did not load and no test ran.
	Diagnostics hcl.Diagnostics
	// Sources holds every file read (configuration, policies, tests) by
	// display name, for rendering diagnostics with their source.
	Sources map[string]*hcl.File
	// Bench is set when the tests ran as benchmarks.
	Bench bool
	// Duration is the wall time of the whole run.
	Duration time.Duration

	// engineLoads counts configurations loaded for scenario variables.
	engineLoads int
}

// FileResult is the outcome of one test file: a test suite.
type FileResult struct {
	// File is the file's display name (the configuration directory as
	// given, joined with its path inside it).
	File string
	Kind Kind
	// Tests are in file order.
	Tests []*TestResult
	// Diagnostics about the file itself. An error means the file is
	// invalid: none of its tests ran and the file counts as one failed
	// test. Warnings (an empty file) do not fail it.
	Diagnostics hcl.Diagnostics
}

// Invalid reports whether the file could not be loaded.
func (f *FileResult) Invalid() bool { return f.Diagnostics.HasErrors() }

// Counts returns how many of the file's tests passed, failed and were
// skipped; an invalid file is one failed test.
func (f *FileResult) Counts() Counts {
	var c Counts
	if f.Invalid() {
		c.Failed++
	}
	for _, t := range f.Tests {
		c.add(t.Status)
	}
	return c
}

// Duration is the sum of the file's test durations.
func (f *FileResult) Duration() time.Duration {
	var d time.Duration
	for _, t := range f.Tests {
		d += t.Duration
	}
	return d
}

// TestResult is the outcome of one Rego test or one scenario run.
type TestResult struct {
	// Name is the test rule's name (test_isolates_miners; a parametrized
	// test's case is appended after a slash) or the run block's label.
	Name string
	// Group is what the test belongs to: the Rego package
	// (data.cordon.ec2.verdict_test) or the scenario file. JUnit reports
	// it as the classname.
	Group string
	// File and Line locate the test rule or the run block.
	File string
	Line int

	Status   Status
	Duration time.Duration
	// Message says in one line why the test failed or errored.
	Message string
	// Detail explains a failed Rego test: the expression that failed, with
	// the values of its variables, and with Options.Verbose the trace.
	Detail string
	// Output is print() output from the policies, and the engine's
	// warnings for a scenario.
	Output string
	// Diagnostics are failed assertions and errors with their source
	// ranges (scenarios), or an evaluation error (Rego).
	Diagnostics hcl.Diagnostics
	// Scenario is the expected and planned outcome of a run block.
	Scenario *ScenarioOutcome
	// Benchmark is set with Options.Bench.
	Benchmark *BenchmarkResult
}

// FullName is the name -run matches: the Rego test's full path, or the
// scenario's file (relative to the configuration directory) and run name.
func (t *TestResult) FullName() string {
	return fullName(t.Group, t.Name)
}

func fullName(group, name string) string {
	if strings.HasPrefix(group, "data.") {
		return group + "." + name
	}
	return group + "/" + name
}

// Counts are numbers of tests by outcome.
type Counts struct {
	Passed, Failed, Skipped int
}

func (c *Counts) add(s Status) {
	switch {
	case s == Pass:
		c.Passed++
	case s == Skip:
		c.Skipped++
	default:
		c.Failed++
	}
}

// Total is the number of tests.
func (c Counts) Total() int { return c.Passed + c.Failed + c.Skipped }

// String is the summary line: "N passed, N failed", with ", N skipped"
// when any were.
func (c Counts) String() string {
	s := fmt.Sprintf("%d passed, %d failed", c.Passed, c.Failed)
	if c.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", c.Skipped)
	}
	return s
}

// Counts totals the report. A configuration that did not load counts as
// one failed test, so that a report of it never reads as a success.
func (r *Report) Counts() Counts {
	var c Counts
	if r.Diagnostics.HasErrors() {
		c.Failed++
	}
	for _, f := range r.Files {
		fc := f.Counts()
		c.Passed += fc.Passed
		c.Failed += fc.Failed
		c.Skipped += fc.Skipped
	}
	return c
}

// OK reports whether everything passed: the exit status of `cordon test`.
func (r *Report) OK() bool { return r.Counts().Failed == 0 }

// Run loads the configuration in opts.Dir and runs its tests. An error is
// returned only for bad options (an invalid -run expression); everything
// else, including a configuration that does not load, is in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	filter, err := compileFilter(opts.Run)
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	osFS := opts.FS == nil
	if osFS {
		opts.FS = os.DirFS(opts.Dir)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}

	r := &runner{opts: opts, osFS: osFS, filter: filter, prints: &printSink{}}
	rep := &Report{Sources: map[string]*hcl.File{}, Bench: opts.Bench}

	// The configuration is loaded once as plan would load it; scenarios
	// without variables plan with it, and the Rego tests take its
	// policies and compiler settings.
	base, diags := engine.Load(ctx, r.engineOptions(nil, ""))
	if base != nil {
		r.addSources(rep, base.Files())
	}
	if diags.HasErrors() {
		rep.Diagnostics = diags
		// A policy that does not parse or compile fails the run, but the
		// Rego tests still run without it and are reported: one broken
		// file must not hide the other files' results. Scenarios plan with
		// the whole configuration, and cannot.
		if set, ok := r.policiesWithoutBroken(base, diags); ok {
			regoFiles, cov, regoSources := r.runRego(ctx, set, base.Config().PolicyPaths)
			r.addSources(rep, regoSources)
			rep.Files = regoFiles
			sort.SliceStable(rep.Files, func(i, j int) bool { return rep.Files[i].File < rep.Files[j].File })
			rep.Coverage = cov
		}
		r.checkSelected(rep)
		rep.Duration = time.Since(start)
		return rep, nil
	}
	r.base = base
	r.engines = &engineCache{load: r.loadEngine, m: map[string]*engineEntry{"": {e: base}}}
	rep.Diagnostics = diags // warnings

	// The Rego tests and the scenarios are independent: run them side by
	// side.
	var (
		wg             sync.WaitGroup
		regoFiles      []*FileResult
		regoSources    map[string]*hcl.File
		scenarioFiles  []*FileResult
		scenarioSource map[string]*hcl.File
		cov            *Coverage
	)
	wg.Go(func() { regoFiles, cov, regoSources = r.runRego(ctx, base.Policies(), base.Config().PolicyPaths) })
	wg.Go(func() { scenarioFiles, scenarioSource = r.runScenarios(ctx) })
	wg.Wait()

	r.addSources(rep, regoSources)
	r.addSources(rep, scenarioSource)
	rep.Files = append(regoFiles, scenarioFiles...)
	sort.SliceStable(rep.Files, func(i, j int) bool { return rep.Files[i].File < rep.Files[j].File })
	rep.Coverage = cov
	rep.engineLoads = r.engines.loads
	r.checkSelected(rep)
	rep.Duration = time.Since(start)
	return rep, nil
}

// checkSelected fails a run whose -run expression selected no test: a
// typo in it must not pass as "0 passed, 0 failed".
func (r *runner) checkSelected(rep *Report) {
	if r.filter == nil {
		return
	}
	for _, f := range rep.Files {
		if len(f.Tests) > 0 {
			return
		}
	}
	rep.Diagnostics = append(rep.Diagnostics, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No test matches -run",
		Detail: fmt.Sprintf("-run %q selects no test. It matches, anywhere in the name as opa test -r does, a Rego test by its full name (data.cordon.ec2.verdict_test.test_miner) and a scenario by its file and run block (tests/ec2.test.hcl/miner_is_isolated).",
			r.opts.Run),
	})
}

// policiesWithoutBroken compiles the configuration's policies without the
// files its load failed on, for the Rego tests to run without them. ok is
// false when the load failed for anything but Rego (the HCL), or the rest
// still does not compile.
func (r *runner) policiesWithoutBroken(base *engine.Engine, diags hcl.Diagnostics) (*policy.Set, bool) {
	if base == nil || base.Config() == nil {
		return nil, false
	}
	broken := map[string]bool{}
	brokenFiles := func(diags hcl.Diagnostics) (added, other bool) {
		for _, d := range diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			if d.Subject == nil || !strings.HasSuffix(d.Subject.Filename, ".rego") {
				other = true
				continue
			}
			rel := r.relName(d.Subject.Filename)
			if !broken[rel] {
				broken[rel] = true
				added = true
			}
		}
		return added, other
	}
	if _, other := brokenFiles(diags); other {
		return nil, false
	}
	inputSchema, err := schema.InputSchema(base.CollectorTypes())
	if err != nil {
		return nil, false
	}
	// Each compile may fail on files the first did not reach (a package
	// whose dependency was broken): leave them out too, a few times.
	for range 10 {
		set, pdiags := policy.Load(hiddenFS{r.opts.FS, broken}, r.opts.Dir, base.Config().PolicyPaths,
			policy.Options{InputSchema: inputSchema, Print: r.prints})
		if !pdiags.HasErrors() {
			return set, true
		}
		if added, other := brokenFiles(pdiags); !added || other {
			return nil, false
		}
	}
	return nil, false
}

// relName turns a display name back into a path inside the configuration
// directory's file system.
func (r *runner) relName(display string) string {
	if r.opts.Dir == "." || r.opts.Dir == "" {
		return filepath.ToSlash(display)
	}
	rel, err := filepath.Rel(r.opts.Dir, display)
	if err != nil {
		return filepath.ToSlash(display)
	}
	return filepath.ToSlash(rel)
}

// hiddenFS is a file system without some of its files.
type hiddenFS struct {
	fsys   fs.FS
	hidden map[string]bool
}

func (h hiddenFS) Open(name string) (fs.File, error) {
	if h.hidden[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return h.fsys.Open(name)
}

func (h hiddenFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(h.fsys, name)
	if err != nil {
		return nil, err
	}
	kept := entries[:0]
	for _, e := range entries {
		if !h.hidden[path.Join(name, e.Name())] {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

func (h hiddenFS) Stat(name string) (fs.FileInfo, error) {
	if h.hidden[name] {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fs.Stat(h.fsys, name)
}

// compileFilter compiles -run. Like `go test -run` and `opa test -r`, the
// expression is unanchored.
func compileFilter(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid -run expression: %w", err)
	}
	return re, nil
}

// runner carries one Run.
type runner struct {
	opts    Options
	osFS    bool
	filter  *regexp.Regexp
	base    *engine.Engine
	engines *engineCache
	prints  *printSink
}

func (r *runner) selected(group, name string) bool {
	return r.filter == nil || r.filter.MatchString(fullName(group, name))
}

func (r *runner) addSources(rep *Report, files map[string]*hcl.File) {
	for n, f := range files {
		rep.Sources[n] = f
	}
}

// displayName is how diagnostics name a file inside the configuration
// directory, as the engine names its files.
func (r *runner) displayName(rel string) string {
	if r.opts.Dir == "." || r.opts.Dir == "" {
		return filepath.FromSlash(rel)
	}
	return filepath.Join(r.opts.Dir, filepath.FromSlash(rel))
}
