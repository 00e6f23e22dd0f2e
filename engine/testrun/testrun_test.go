package testrun

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixture lays testdata/base (a configuration and its policies) and
// testdata/NAME (test files) over each other, as one configuration
// directory.
func fixture(t testing.TB, name string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	for _, dir := range []string{filepath.Join("testdata", "base"), filepath.Join("testdata", name)} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data, Mode: 0o644}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func noEnv(string) (string, bool) { return "", false }

// run runs the tests of fixture name, its files named name/….
func run(t testing.TB, name string, opts Options) *Report {
	t.Helper()
	opts.Dir = name
	opts.FS = fixture(t, name)
	opts.Getenv = noEnv
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// statuses maps each test's full name to its status.
func statuses(rep *Report) map[string]Status {
	out := map[string]Status{}
	for _, f := range rep.Files {
		for _, tr := range f.Tests {
			out[tr.FullName()] = tr.Status
		}
	}
	return out
}

func invalidFiles(rep *Report) []string {
	var out []string
	for _, f := range rep.Files {
		if f.Invalid() {
			out = append(out, f.File)
		}
	}
	return out
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		name    string
		want    Counts
		tests   map[string]Status
		invalid []string
	}{
		{
			name: "pass",
			want: Counts{Passed: 17, Skipped: 1},
			tests: map[string]Status{
				"data.fixture.verdict_test.test_a_miner_is_malicious":               Pass,
				"data.fixture.verdict_test.todo_test_miners_from_a_list_in_data":    Skip,
				"data.fixture.response_test.test_notify_unless_benign/benign":       Pass,
				"data.fixture.response_test.test_notify_unless_benign/inconclusive": Pass,
				"tests/instances.test.hcl/miner_is_contained":                       Pass,
				"tests/instances.test.hcl/isolation_group_from_variables":           Pass,
				"tests/instances.test.hcl/inline_facts":                             Pass,
				"tests/keys.test.hcl/disallowed_action_fails_the_plan":              Pass,
				"tests/keys.test.hcl/unmatched_finding":                             Pass,
			},
		},
		{
			name: "fail",
			want: Counts{Passed: 2, Failed: 9},
			tests: map[string]Status{
				"data.fixture.verdict_test.test_a_miner_is_malicious": Pass,
				"data.fixture.verdict_test.test_a_miner_is_benign":    Fail,
				"data.fixture.verdict_test.test_a_builtin_error":      Error,
				"tests/fail.test.hcl/passes":                          Pass,
				"tests/fail.test.hcl/wrong_verdict":                   Fail,
				"tests/fail.test.hcl/wrong_actions":                   Fail,
				"tests/fail.test.hcl/failed_assert":                   Fail,
				"tests/fail.test.hcl/missing_finding":                 Error,
				"tests/fail.test.hcl/unexpected_plan_errors":          Fail,
				"tests/fail.test.hcl/expected_errors_missing":         Fail,
				"tests/fail.test.hcl/assert_does_not_evaluate":        Error,
			},
		},
		{
			// Broken files fail with their diagnostics; the good ones
			// still run.
			name: "invalid",
			want: Counts{Passed: 2, Failed: 4},
			tests: map[string]Status{
				"data.fixture.good_test.test_still_runs": Pass,
				"tests/good.test.hcl/still_runs":         Pass,
			},
			invalid: []string{
				filepath.FromSlash("invalid/policies/compile_error_test.rego"),
				filepath.FromSlash("invalid/policies/parse_error_test.rego"),
				filepath.FromSlash("invalid/tests/syntax.test.hcl"),
				filepath.FromSlash("invalid/tests/unknown.test.hcl"),
			},
		},
		{name: "empty", want: Counts{}, tests: map[string]Status{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := run(t, tt.name, Options{})
			if got := rep.Counts(); got != tt.want {
				t.Errorf("counts %+v, want %+v", got, tt.want)
			}
			if rep.OK() != (tt.want.Failed == 0) {
				t.Errorf("OK() = %v with %d failed", rep.OK(), tt.want.Failed)
			}
			got := statuses(rep)
			for name, want := range tt.tests {
				if s, ok := got[name]; !ok {
					t.Errorf("%s did not run; ran %v", name, got)
				} else if s != want {
					t.Errorf("%s: %s, want %s", name, s, want)
				}
			}
			if inv := invalidFiles(rep); !slices.Equal(inv, tt.invalid) {
				t.Errorf("invalid files %q, want %q", inv, tt.invalid)
			}
			for _, f := range rep.Files {
				for _, tr := range f.Tests {
					if tr.Status.Failed() && tr.Message == "" {
						t.Errorf("%s failed without a message", tr.FullName())
					}
					if tr.File == "" || tr.Line == 0 {
						t.Errorf("%s has no location: %q:%d", tr.FullName(), tr.File, tr.Line)
					}
				}
			}
		})
	}
}

// TestInvalidDiagnostics checks each broken file is reported at the
// mistake, with what a person needs to fix it.
func TestInvalidDiagnostics(t *testing.T) {
	rep := run(t, "invalid", Options{})
	want := map[string][]string{ // file → "line: summary"
		"invalid/policies/parse_error_test.rego":   {"5: Invalid Rego syntax"},
		"invalid/policies/compile_error_test.rego": {"4: Unsafe variable in Rego"},
		"invalid/tests/syntax.test.hcl":            {"1: Unclosed configuration block"},
		"invalid/tests/unknown.test.hcl": {
			"1: Missing required argument",
			"2: Unsupported argument",
			"9: Unknown reference",
			"16: Undeclared variable",
			"19: Invalid expected verdict",
			"20: Unknown rule",
		},
	}
	for _, f := range rep.Files {
		w, ok := want[filepath.ToSlash(f.File)]
		if !ok {
			continue
		}
		var got []string
		for _, d := range f.Diagnostics {
			if d.Subject == nil {
				t.Errorf("%s: %q has no source range", f.File, d.Summary)
				continue
			}
			got = append(got, fmt.Sprintf("%d: %s", d.Subject.Start.Line, d.Summary))
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s diagnostics:\n  %s\nwant:\n  %s", f.File, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
		}
		delete(want, filepath.ToSlash(f.File))
	}
	for f := range want {
		t.Errorf("%s is not reported", f)
	}
}

// TestEngineOncePerVariables checks a configuration is compiled once per
// distinct variables value, not once per run: three runs set variables,
// two of them the same, and one file's variables block sets the third.
func TestEngineOncePerVariables(t *testing.T) {
	rep := run(t, "pass", Options{})
	if rep.engineLoads != 2 {
		t.Errorf("%d configurations loaded for variables, want 2 (sg-0test and sg-0file)", rep.engineLoads)
	}
}

func TestRunFilter(t *testing.T) {
	tests := []struct {
		run  string
		want []string
	}{
		{`test_a_miner`, []string{"data.fixture.verdict_test.test_a_miner_is_malicious"}},
		// As with opa test -r, the expression selects test rules: a
		// parametrized test's cases run together.
		{`^data\.fixture\.response_test\.test_notify_unless_benign$`, []string{
			"data.fixture.response_test.test_notify_unless_benign/benign",
			"data.fixture.response_test.test_notify_unless_benign/inconclusive",
			"data.fixture.response_test.test_notify_unless_benign/malicious",
			"data.fixture.response_test.test_notify_unless_benign/suspicious",
		}},
		{`keys\.test\.hcl/`, []string{
			"tests/keys.test.hcl/disallowed_action_fails_the_plan",
			"tests/keys.test.hcl/unmatched_finding",
		}},
		{`miner_is_contained|low_severity`, []string{
			"tests/instances.test.hcl/low_severity_without_a_miner_is_benign",
			"tests/instances.test.hcl/miner_is_contained",
		}},
		{`nothing matches this`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.run, func(t *testing.T) {
			rep := run(t, "pass", Options{Run: tt.run})
			var got []string
			for name := range statuses(rep) {
				got = append(got, name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ran %q, want %q", got, tt.want)
			}
			// An expression that selects nothing fails the run, saying so:
			// a typo must not pass as "0 passed, 0 failed".
			wantFailed := 0
			if tt.want == nil {
				wantFailed = 1
				if !rep.Diagnostics.HasErrors() || !strings.Contains(rep.Diagnostics.Error(), "No test matches -run") {
					t.Errorf("diagnostics %v, want No test matches -run", rep.Diagnostics)
				}
			}
			if c := rep.Counts(); c.Passed != len(tt.want) || c.Failed != wantFailed {
				t.Errorf("counts %+v", c)
			}
		})
	}
	if _, err := Run(context.Background(), Options{Dir: "testdata/coverage", Run: "("}); err == nil || !strings.Contains(err.Error(), "-run") {
		t.Errorf("an invalid -run expression: %v", err)
	}
}

// TestCoverage checks the coverage of a policy whose tests evaluate a known
// set of lines: cov.rego's first verdict rule (lines 3-4) and nothing else,
// and both lines of its test.
func TestCoverage(t *testing.T) {
	rep, err := Run(context.Background(), Options{Dir: "testdata/coverage", Coverage: true, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Counts(); c != (Counts{Passed: 1}) {
		t.Fatalf("counts %+v", c)
	}
	cov := rep.Coverage
	if cov == nil {
		t.Fatal("no coverage")
	}
	policy := filepath.Join("testdata", "coverage", "policies", "cov.rego")
	test := filepath.Join("testdata", "coverage", "policies", "cov_test.rego")
	want := []*FileCoverage{
		{File: policy, CoveredLines: 2, NotCoveredLines: 7, Percent: 200.0 / 9,
			NotCovered: []LineRange{{7, 8}, {11, 13}, {16, 17}}},
		{File: test, Test: true, CoveredLines: 2, Percent: 100, NotCovered: []LineRange{}},
	}
	if len(cov.Files) != len(want) {
		t.Fatalf("coverage of %d files, want %d", len(cov.Files), len(want))
	}
	for i, w := range want {
		g := cov.Files[i]
		if g.File != w.File || g.Test != w.Test || g.CoveredLines != w.CoveredLines || g.NotCoveredLines != w.NotCoveredLines ||
			!near(g.Percent, w.Percent) || !slices.Equal(g.NotCovered, w.NotCovered) {
			t.Errorf("file %d: %+v, want %+v", i, *g, *w)
		}
	}
	if cov.CoveredLines != 4 || cov.NotCoveredLines != 7 || !near(cov.Percent, 400.0/11) || !near(cov.PoliciesPercent, 200.0/9) {
		t.Errorf("total %d/%d lines, %.2f%% (policies %.2f%%)", cov.CoveredLines, cov.NotCoveredLines, cov.Percent, cov.PoliciesPercent)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestConfigurationInvalid checks a configuration that does not load is a
// failed report, not an error and not a success.
func TestConfigurationInvalid(t *testing.T) {
	fsys := fstest.MapFS{
		"cordon.hcl": {Data: []byte("rule \"x\" {\n  scopes = [scope.nope]\n}\n")},
	}
	rep, err := Run(context.Background(), Options{Dir: "broken", FS: fsys, Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Diagnostics.HasErrors() || rep.OK() || rep.Counts() != (Counts{Failed: 1}) {
		t.Fatalf("diagnostics %v, counts %+v", rep.Diagnostics, rep.Counts())
	}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, rep); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	if doc.Tests != 1 || doc.Errors != 1 || len(doc.Suites) != 1 || doc.Suites[0].Name != "configuration" {
		t.Errorf("JUnit of an invalid configuration: %+v", doc)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		a, b []string
		want string
	}{
		{nil, nil, ""},
		{[]string{"a", "b"}, []string{"a", "b"}, "=a =b"},
		{[]string{"a", "b", "c"}, []string{"a", "c"}, "=a -b =c"},
		{[]string{"a", "c"}, []string{"a", "b", "c"}, "=a +b =c"},
		{[]string{"a", "b"}, []string{"b", "a"}, "-a =b +a"},
		{nil, []string{"x"}, "+x"},
		{[]string{"x"}, nil, "-x"},
	}
	for _, tt := range tests {
		var parts []string
		for _, l := range diff(tt.a, tt.b) {
			op := string(l.op)
			if l.op == ' ' {
				op = "="
			}
			parts = append(parts, op+l.text)
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("diff(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCountsString(t *testing.T) {
	for _, tt := range []struct {
		c    Counts
		want string
	}{
		{Counts{}, "0 passed, 0 failed"},
		{Counts{Passed: 3, Failed: 1}, "3 passed, 1 failed"},
		{Counts{Passed: 3, Skipped: 2}, "3 passed, 0 failed, 2 skipped"},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.c, got, tt.want)
		}
	}
}

// TestBench runs one Rego test and one scenario as benchmarks, briefly.
func TestBench(t *testing.T) {
	if f := flag.Lookup("test.benchtime"); f != nil {
		old := f.Value.String()
		f.Value.Set("20x")
		defer f.Value.Set(old)
	}
	rep := run(t, "pass", Options{Bench: true, BenchMem: true, Run: `test_a_miner_is_malicious|instances.test.hcl/miner_is_contained`})
	n := 0
	for _, f := range rep.Files {
		for _, tr := range f.Tests {
			n++
			if tr.Benchmark == nil || tr.Benchmark.N == 0 || tr.Benchmark.NsPerOp() <= 0 {
				t.Errorf("%s: no benchmark result: %+v", tr.FullName(), tr.Benchmark)
			}
		}
	}
	if n != 2 || !rep.OK() {
		t.Errorf("%d benchmarks, counts %+v", n, rep.Counts())
	}
	var buf bytes.Buffer
	WritePretty(&buf, rep, PrettyOptions{})
	if !strings.Contains(buf.String(), "ns/op") || !strings.Contains(buf.String(), "allocs/op") {
		t.Errorf("pretty benchmark output:\n%s", buf.String())
	}
	buf.Reset()
	WriteJSON(&buf, rep)
	if !strings.Contains(buf.String(), `"ns_per_op"`) {
		t.Errorf("JSON benchmark output lacks ns_per_op:\n%s", buf.String())
	}
}

// TestVerbose checks -v lists passing tests, keeps print() output and
// traces failed Rego tests.
func TestVerbose(t *testing.T) {
	rep := run(t, "fail", Options{Verbose: true, Run: `verdict_test|wrong_verdict`})
	var buf bytes.Buffer
	if err := WritePretty(&buf, rep, PrettyOptions{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"=== " + filepath.FromSlash("fail/policies/verdict_test.rego"),
		"--- PASS: data.fixture.verdict_test.test_a_miner_is_malicious (",
		"--- FAIL: data.fixture.verdict_test.test_a_miner_is_benign (" + filepath.FromSlash("fail/policies/verdict_test.rego") + ":15, ",
		"the verdict was malicious",
		"trace:",
		"Fail v = \"benign\"",
		"--- FAIL: run \"wrong_verdict\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verbose output lacks %q:\n%s", want, out)
		}
	}
}

// TestPrintOutputOfScenarios checks a scenario keeps its policies'
// print() output, and only its own.
func TestPrintOutputOfScenarios(t *testing.T) {
	fsys := fixture(t, "pass").(fstest.MapFS)
	fsys["policies/debug_response.rego"] = &fstest.MapFile{Data: []byte("package fixture.response\n\nactions contains {\"action\": \"notify\"} if {\n\tprint(\"response for\", input.finding.id)\n\tfalse\n}\n")}
	rep, err := Run(context.Background(), Options{Dir: "pass", FS: fsys, Getenv: noEnv, Run: `miner_is_contained|unmatched`})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Files {
		for _, tr := range f.Tests {
			switch tr.Name {
			case "miner_is_contained":
				if !strings.Contains(tr.Output, filepath.FromSlash("pass/policies/debug_response.rego")+":4: response for ") {
					t.Errorf("%s output %q lacks the response's print", tr.Name, tr.Output)
				}
			case "unmatched_finding":
				if tr.Output != "" {
					t.Errorf("%s printed %q, but no policy ran for it", tr.Name, tr.Output)
				}
			}
		}
	}
}

func TestJSON(t *testing.T) {
	rep := run(t, "fail", Options{})
	zeroDurations(rep)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var doc jsonReport
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.Summary.Passed != 2 || doc.Summary.Failed != 9 || doc.FormatVersion != "1.0" {
		t.Errorf("summary %+v", doc.Summary)
	}
	golden(t, "fail.json", buf.String())
}

func TestPrettyGolden(t *testing.T) {
	for _, name := range []string{"pass", "fail", "invalid", "empty"} {
		t.Run(name, func(t *testing.T) {
			rep := run(t, name, Options{})
			zeroDurations(rep)
			var buf bytes.Buffer
			if err := WritePretty(&buf, rep, PrettyOptions{}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Contains(out, "\x1b[") {
				t.Error("colour without Color")
			}
			last := out[strings.LastIndexByte(strings.TrimSuffix(out, "\n"), '\n')+1:]
			if last != rep.Counts().String()+"\n" {
				t.Errorf("last line %q, want the summary", last)
			}
			golden(t, name+".txt", out)

			buf.Reset()
			WritePretty(&buf, rep, PrettyOptions{Color: true})
			if rep.Counts().Total() > 0 && !strings.Contains(buf.String(), "\x1b[") {
				t.Error("no colour with Color")
			}
		})
	}
}

// zeroDurations makes a report's output reproducible.
func zeroDurations(rep *Report) {
	rep.Duration = 0
	for _, f := range rep.Files {
		for _, tr := range f.Tests {
			tr.Duration = 0
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// TestBrokenPolicyDoesNotHideOtherFiles: a policy that does not parse or
// compile fails the run, and the Rego tests of the other files still run
// and report, as they would without it.
func TestBrokenPolicyDoesNotHideOtherFiles(t *testing.T) {
	for _, broken := range []struct{ name, src string }{
		{"syntax error", "package fixture.verdict\n\nverdict := {\n"},
		{"compile error", "package fixture.verdict\n\nverdict := undefined_var\n"},
	} {
		t.Run(broken.name, func(t *testing.T) {
			fsys := fixture(t, "pass").(fstest.MapFS)
			fsys["policies/verdict.rego"] = &fstest.MapFile{Data: []byte(broken.src), Mode: 0o644}
			rep, err := Run(context.Background(), Options{Dir: "pass", FS: fsys, Getenv: noEnv})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Diagnostics.HasErrors() || !strings.Contains(rep.Diagnostics.Error(), "verdict.rego") {
				t.Errorf("diagnostics %v, want the broken file's", rep.Diagnostics)
			}
			st := statuses(rep)
			passed := 0
			for name, s := range st {
				switch {
				case strings.HasPrefix(name, "data.fixture.response_test."):
					if s != Pass {
						t.Errorf("%s: %s, want pass", name, s)
					}
					passed++
				case strings.HasPrefix(name, "data.fixture.verdict_test."):
					if s == Pass {
						t.Errorf("%s passed without its policy", name)
					}
				}
			}
			if passed == 0 {
				t.Errorf("no test of the other files ran: %v", st)
			}
			if rep.OK() {
				t.Error("the run passed with a broken policy")
			}
		})
	}
}
