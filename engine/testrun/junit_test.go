package testrun

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
)

// parseJUnit reads a JUnit report back, as a CI test reporter would.
func parseJUnit(t *testing.T, data []byte) junitSuites {
	t.Helper()
	if !bytes.HasPrefix(data, []byte(xml.Header)) {
		t.Errorf("no XML declaration: %.60q", data)
	}
	var doc junitSuites
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("invalid JUnit XML: %v\n%s", err, data)
	}
	return doc
}

// TestJUnit checks the XML is valid and its counts agree with the report,
// suite by suite: one suite per file, one testcase per test, failures and
// errors with a message and the explanation.
func TestJUnit(t *testing.T) {
	tests := []struct {
		fixture                          string
		tests, failures, errors, skipped int
		suites                           int
	}{
		{"pass", 18, 0, 0, 1, 4},
		{"fail", 11, 6, 3, 0, 2},
		// Each invalid file is one errored testcase.
		{"invalid", 6, 0, 4, 0, 6},
		{"empty", 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			rep := run(t, tt.fixture, Options{})
			var buf bytes.Buffer
			if err := WriteJUnit(&buf, rep); err != nil {
				t.Fatal(err)
			}
			doc := parseJUnit(t, buf.Bytes())
			if doc.Tests != tt.tests || doc.Failures != tt.failures || doc.Errors != tt.errors || doc.Skipped != tt.skipped || len(doc.Suites) != tt.suites {
				t.Errorf("testsuites: %d tests, %d failures, %d errors, %d skipped, %d suites; want %d, %d, %d, %d, %d",
					doc.Tests, doc.Failures, doc.Errors, doc.Skipped, len(doc.Suites), tt.tests, tt.failures, tt.errors, tt.skipped, tt.suites)
			}
			c := rep.Counts()
			if doc.Failures+doc.Errors != c.Failed || doc.Skipped != c.Skipped || doc.Tests != c.Total() {
				t.Errorf("JUnit counts disagree with the report's %+v", c)
			}
			files := map[string]bool{}
			for _, s := range doc.Suites {
				if files[s.Name] {
					t.Errorf("two suites for %s", s.Name)
				}
				files[s.Name] = true
				var failures, errs, skipped int
				for _, tc := range s.Cases {
					if tc.Name == "" || tc.Classname == "" || tc.Time == "" {
						t.Errorf("%s: testcase without name, classname or time: %+v", s.Name, tc)
					}
					for _, p := range []*junitProblem{tc.Failure, tc.Error} {
						if p != nil && (p.Message == "" || strings.TrimSpace(p.Text) == "") {
							t.Errorf("%s/%s: a failure needs a message and an explanation: %+v", s.Name, tc.Name, p)
						}
					}
					switch {
					case tc.Failure != nil:
						failures++
					case tc.Error != nil:
						errs++
					case tc.Skipped != nil:
						skipped++
					}
				}
				if s.Tests != len(s.Cases) || s.Failures != failures || s.Errors != errs || s.Skipped != skipped {
					t.Errorf("suite %s counts %d/%d/%d/%d, its testcases %d/%d/%d/%d", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), failures, errs, skipped)
				}
			}
		})
	}
}

// TestJUnitFailureText checks what a CI report shows of a failed scenario
// and a failed Rego test: the location, the diff, the failed assertion.
func TestJUnitFailureText(t *testing.T) {
	rep := run(t, "fail", Options{})
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, rep); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	cases := map[string]junitCase{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			cases[c.Name] = c
		}
	}
	checks := []struct {
		name, file string
		line       int
		message    string
		text       []string
	}{
		{"wrong_actions", "fail/tests/fail.test.hcl", 21, "planned actions differ from those expected",
			[]string{"actions (- expected, + planned):", `  + action.stop["i-0a1b2c3d4e5f67890"]`, `  - action.snapshot["i-0a1b2c3d4e5f67890"]`}},
		{"failed_assert", "fail/tests/fail.test.hcl", 34, "1 of 2 assertions failed",
			[]string{"Test assertion failed", "length(plan.incidents[0].actions) == 2", "expected isolation and stop only", "tuple with 3 elements"}},
		{"test_a_miner_is_benign", "fail/policies/verdict_test.rego", 15, "the test is false or undefined",
			[]string{"verdict_test.rego:18: failed here:", `v == "benign"`, `"malicious"`, "the verdict was malicious"}},
	}
	for _, c := range checks {
		tc, ok := cases[c.name]
		if !ok || tc.Failure == nil {
			t.Errorf("%s: no failure in %+v", c.name, tc)
			continue
		}
		if tc.File != filepath.FromSlash(c.file) || tc.Line != c.line || tc.Failure.Message != c.message {
			t.Errorf("%s: %s:%d %q, want %s:%d %q", c.name, tc.File, tc.Line, tc.Failure.Message, c.file, c.line, c.message)
		}
		for _, want := range c.text {
			if !strings.Contains(tc.Failure.Text, want) {
				t.Errorf("%s: failure text lacks %q:\n%s", c.name, want, tc.Failure.Text)
			}
		}
	}
}
