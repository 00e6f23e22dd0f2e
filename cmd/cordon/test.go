package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/cordonhq/cordon/engine/testrun"
)

func runTest(ctx context.Context, m *meta, args []string) int {
	fs := m.flagSet("test [-config DIR] [-run REGEX] [-format pretty|json|junit] [-coverage] [-v] [options]", "test [options]")
	m.configFlags(fs)
	m.outputFlags(fs)
	var (
		opts     testrun.Options
		format   string
		junitOut string
	)
	fs.StringVar(&opts.Run, "run", "", "run only tests whose name matches `REGEX`: Rego tests by full name (data.pkg.test_name), scenarios by FILE/RUN (tests/ec2.test.hcl/miner_is_isolated)")
	fs.StringVar(&format, "format", "pretty", "report `FORMAT`: pretty, json or junit")
	fs.StringVar(&junitOut, "junit-xml", "", "also write a JUnit XML report to `FILE`")
	fs.BoolVar(&opts.Coverage, "coverage", false, "report the Rego tests' coverage of the policies (per file and total; uncovered lines in -format json)")
	fs.BoolVar(&opts.Verbose, "v", false, "list every test with its duration and print() output, and trace failed Rego tests")
	fs.BoolVar(&opts.Verbose, "verbose", false, "same as -v")
	fs.BoolVar(&opts.Bench, "bench", false, "benchmark the selected tests instead (OPA's benchmarking for Rego tests)")
	fs.BoolVar(&opts.BenchMem, "benchmem", false, "report allocations of benchmarks")
	fs.DurationVar(&opts.Timeout, "timeout", 0, "time limit of each Rego test, a `DURATION` (default 5s, 30s with -bench)")
	m.jsonFlag(fs, "the report as JSON (-format json)")
	pos, code, ok := m.parseArgs(fs, args)
	if !ok {
		return code
	}
	if !m.noArgs(fs, "test", pos, " (use -config DIR)") {
		return 1
	}
	if m.jsonOut {
		if format != "pretty" && format != "json" {
			fmt.Fprintf(m.stderr, "cordon test: -json and -format %s are alternatives: give one\n", format)
			return 1
		}
		format = "json"
	}
	switch format {
	case "pretty", "json", "junit":
	default:
		fmt.Fprintf(m.stderr, "cordon test: unknown -format %q (pretty, json or junit)\n", format)
		fs.Usage()
		return 1
	}
	if opts.Bench && opts.Coverage {
		fmt.Fprintln(m.stderr, "cordon test: -coverage cannot be combined with -bench")
		return 1
	}
	opts.Dir = m.configDir
	opts.Vars = m.vars
	opts.VarFiles = m.varFiles

	// A test run is short and compiles the policies twice over, making
	// garbage fast while it grows its heap: collecting less often saves a
	// sixth of its CPU time for some 20 MB, well inside main's memory
	// limit. GOGC still overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	rep, err := testrun.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(m.stderr, "cordon test: %v\n", err)
		return 1
	}
	for n, f := range rep.Sources {
		m.files[n] = f
	}
	m.showDiags(rep.Diagnostics)

	switch format {
	case "json":
		err = testrun.WriteJSON(m.stdout, rep)
	case "junit":
		err = testrun.WriteJUnit(m.stdout, rep)
	default:
		err = testrun.WritePretty(m.stdout, rep, testrun.PrettyOptions{Color: m.color(m.stdout), Verbose: opts.Verbose})
	}
	if err != nil {
		return m.fail("Cannot write the test report", err)
	}
	if format != "pretty" {
		// The summary line goes where people read it; stdout holds the
		// document.
		fmt.Fprintln(m.stderr, rep.Counts().String())
	}
	if junitOut != "" {
		var buf bytes.Buffer
		if err := testrun.WriteJUnit(&buf, rep); err == nil {
			err = os.WriteFile(junitOut, buf.Bytes(), 0o644)
		}
		if err != nil {
			return m.fail("Cannot write the JUnit report", err)
		}
	}
	if !rep.OK() {
		return 1
	}
	return 0
}
