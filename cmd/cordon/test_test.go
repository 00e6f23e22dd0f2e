package main

import (
	"encoding/json"
	"encoding/xml"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testrunFixtures = "../../engine/testrun/testdata"

// testFixture writes the test runner's fixture configuration with the test
// files of fixture name into a new directory.
func testFixture(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, src := range []string{filepath.Join(testrunFixtures, "base"), filepath.Join(testrunFixtures, name)} {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			dst := filepath.Join(dir, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestTestExitCodes(t *testing.T) {
	tests := []struct {
		fixture string
		code    int
		summary string
		output  []string
	}{
		{"pass", 0, "17 passed, 0 failed, 1 skipped", []string{"ok  ", "instances.test.hcl"}},
		{"fail", 1, "2 passed, 9 failed", []string{
			`--- FAIL: run "wrong_verdict" (`,
			`verdict: expected "benign", planned "malicious"`,
			"--- FAIL: data.fixture.verdict_test.test_a_miner_is_benign (",
			"Test assertion failed",
		}},
		{"invalid", 1, "2 passed, 4 failed", []string{"(invalid test file)", `An argument named "findng" is not expected here. Did you mean "finding"?`}},
		{"empty", 0, "0 passed, 0 failed", []string{"No run blocks", "no tests"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			dir := testFixture(t, tt.fixture)
			code, out, errOut := cordon(t, "test", "-config", dir)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			if got := lastLine(out); got != tt.summary {
				t.Errorf("last line %q, want %q", got, tt.summary)
			}
			for _, want := range tt.output {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "\x1b[") {
				t.Error("colour when stdout is not a terminal")
			}
		})
	}
}

func TestTestFormats(t *testing.T) {
	dir := testFixture(t, "fail")

	code, out, errOut := cordon(t, "test", "-config", dir, "-format", "json")
	if code != 1 {
		t.Errorf("-format json: exit %d", code)
	}
	var doc struct {
		Summary struct{ Passed, Failed, Skipped int }
		Files   []struct {
			File   string
			Status string
			Tests  []struct{ Name, Status, Message string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("-format json output is not JSON: %v\n%s", err, out)
	}
	if doc.Summary.Passed != 2 || doc.Summary.Failed != 9 || len(doc.Files) != 2 {
		t.Errorf("JSON summary %+v with %d files", doc.Summary, len(doc.Files))
	}
	if lastLine(errOut) != "2 passed, 9 failed" {
		t.Errorf("-format json: the summary line goes to stderr, got %q", errOut)
	}

	code, out, errOut = cordon(t, "test", "-config", dir, "-format", "junit")
	if code != 1 {
		t.Errorf("-format junit: exit %d", code)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil {
		t.Fatalf("-format junit output is not XML: %v\n%s", err, out)
	}
	if suites.Tests != 11 || suites.Failures+suites.Errors != 9 || len(suites.Suites) != 2 {
		t.Errorf("JUnit: %d tests, %d failures, %d errors, %d suites", suites.Tests, suites.Failures, suites.Errors, len(suites.Suites))
	}
	if lastLine(errOut) != "2 passed, 9 failed" {
		t.Errorf("-format junit: the summary line goes to stderr, got %q", errOut)
	}

	// -junit-xml writes the report besides the pretty output.
	report := filepath.Join(t.TempDir(), "report.xml")
	code, out, _ = cordon(t, "test", "-config", dir, "-junit-xml", report)
	if code != 1 || lastLine(out) != "2 passed, 9 failed" {
		t.Errorf("-junit-xml: exit %d, output ending %q", code, lastLine(out))
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &suites); err != nil || suites.Tests != 11 {
		t.Errorf("-junit-xml file: %v, %d tests", err, suites.Tests)
	}
}

func TestTestFlags(t *testing.T) {
	dir := testFixture(t, "pass")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-format", "xml"}, 1, `unknown -format "xml"`},
		{[]string{"-run", "("}, 1, "invalid -run expression"},
		{[]string{"-bench", "-coverage"}, 1, "-coverage cannot be combined with -bench"},
		{[]string{"extra"}, 1, `unexpected argument "extra"`},
		{[]string{"-nope"}, 1, "flag provided but not defined"},
		{[]string{"-help"}, 0, "Usage: cordon test"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := cordon(t, append([]string{"test", "-config", dir}, tt.args...)...)
			if tt.code == 0 {
				errOut = out // asked for, help goes to stdout
			}
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s", code, tt.code, tt.want, errOut)
			}
		})
	}
}

// TestTestRunAndVerbose checks -run selects and -v lists.
func TestTestRunAndVerbose(t *testing.T) {
	dir := testFixture(t, "pass")
	code, out, errOut := cordon(t, "test", "-config", dir, "-run", `keys\.test\.hcl/`, "-v")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`--- PASS: run "disallowed_action_fails_the_plan"`, `--- PASS: run "unmatched_finding"`, "2 passed, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "data.fixture") || strings.Contains(out, "instances.test.hcl") {
		t.Errorf("-run ran tests it does not match:\n%s", out)
	}
}

func TestTestCoverage(t *testing.T) {
	code, out, errOut := cordon(t, "test", "-config", testrunFixtures+"/coverage", "-coverage")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Coverage:", "22.2%", "not covered: lines 7-8, 11-13, 16-17", "total 36.4% of 11 lines"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cordon(t, "test", "-config", testrunFixtures+"/coverage", "-coverage", "-format", "json")
	var doc struct {
		Coverage struct {
			Coverage float64
			Files    []struct {
				File       string
				NotCovered []struct{ Start, End int } `json:"not_covered"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if len(doc.Coverage.Files) != 2 || len(doc.Coverage.Files[0].NotCovered) != 3 || doc.Coverage.Coverage < 36 || doc.Coverage.Coverage > 37 {
		t.Errorf("JSON coverage %+v", doc.Coverage)
	}
}

// TestTestInvalidConfiguration checks a configuration that does not load
// fails with its diagnostics.
func TestTestInvalidConfiguration(t *testing.T) {
	dir := writeConfig(t, map[string]string{"cordon.hcl": "rule \"x\" {\n  scopes = [scope.nope]\n}\n"})
	code, out, errOut := cordon(t, "test", "-config", dir)
	if code != 1 || !strings.Contains(errOut, "scope.nope") || lastLine(out) != "0 passed, 1 failed" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestInitThenTest checks a freshly initialized directory passes its own
// tests: the starter's Rego unit tests and scenario tests.
func TestInitThenTest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ir")
	if code, out, errOut := cordon(t, "init", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"tests/ec2_compromise.test.hcl", "tests/iam_credential_compromise.test.hcl", "tests/s3_exposure.test.hcl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not write %s: %v", f, err)
		}
	}
	code, out, errOut := cordon(t, "test", "-config", dir)
	if code != 0 {
		t.Fatalf("test: exit %d\n%s%s", code, out, errOut)
	}
	summary := lastLine(out)
	if !strings.HasSuffix(summary, " passed, 0 failed") || strings.HasPrefix(summary, "0 ") {
		t.Errorf("summary %q", summary)
	}
	for _, f := range []string{"ec2_compromise.test.hcl", "iam_credential_compromise.test.hcl", "s3_exposure.test.hcl", "lib_test.rego"} {
		if !strings.Contains(out, f) {
			t.Errorf("output does not mention %s:\n%s", f, out)
		}
	}
}
