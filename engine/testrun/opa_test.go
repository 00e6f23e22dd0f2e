package testrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// opaCLI returns the opa command on PATH, skipping the test unless it is
// the version cordon is built with (.ci/install-opa builds that one).
func opaCLI(t *testing.T) string {
	t.Helper()
	opa, err := exec.LookPath("opa")
	if err != nil {
		if os.Getenv("CORDON_CI") != "" {
			t.Fatal("opa is not on PATH, and CI (CORDON_CI) requires the comparison with opa test: .ci/install-opa builds it")
		}
		t.Skip("opa is not on PATH (.ci/install-opa builds it at the version in go.mod)")
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github\.com/open-policy-agent/opa v(\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require github.com/open-policy-agent/opa")
	}
	out, err := exec.Command(opa, "version").Output()
	if err != nil {
		t.Fatalf("opa version: %v", err)
	}
	if !bytes.Contains(out, []byte("Version: "+string(m[1])+"\n")) {
		t.Skipf("opa on PATH is not v%s, the version in go.mod:\n%s", m[1], out)
	}
	return opa
}

// opaTest runs `opa test --format json` with args and decodes its output.
func opaTest(t *testing.T, opa string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, opa, append([]string{"test", "--format", "json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// opa test exits 2 when a test fails; anything else is a failure to run.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 2) {
		t.Fatalf("opa test %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// opaCounts counts `opa test --format json` results as opa's own pretty
// reporter does: a parametrized test counts its leaf cases.
func opaCounts(t *testing.T, out []byte) Counts {
	t.Helper()
	type sub struct {
		Fail       bool            `json:"fail"`
		SubResults map[string]*sub `json:"sub_results"`
	}
	var results []struct {
		Fail       bool            `json:"fail"`
		Skip       bool            `json:"skip"`
		Error      json.RawMessage `json:"error"`
		SubResults map[string]*sub `json:"sub_results"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("opa test output: %v\n%s", err, out)
	}
	var c Counts
	var leaves func(m map[string]*sub)
	leaves = func(m map[string]*sub) {
		for _, s := range m {
			switch {
			case len(s.SubResults) > 0:
				leaves(s.SubResults)
			case s.Fail:
				c.Failed++
			default:
				c.Passed++
			}
		}
	}
	for _, r := range results {
		switch {
		case r.Skip:
			c.Skipped++
		case len(r.Error) > 0 && string(r.Error) != "null":
			c.Failed++
		case len(r.SubResults) > 0:
			leaves(r.SubResults)
		case r.Fail:
			c.Failed++
		default:
			c.Passed++
		}
	}
	return c
}

// regoCounts counts the Rego tests of a report, leaving out scenarios.
func regoCounts(rep *Report) Counts {
	var c Counts
	for _, f := range rep.Files {
		if f.Kind != KindRego {
			continue
		}
		fc := f.Counts()
		c.Passed += fc.Passed
		c.Failed += fc.Failed
		c.Skipped += fc.Skipped
	}
	return c
}

// TestAgreesWithOPA runs `opa test` on the Rego tests cordon runs, and
// checks both count the same passed, failed and skipped tests and compute
// the same coverage, per file and in total. cordon raises built-in errors
// (a test that errors), where opa lets the built-in be undefined (a test
// that fails): both count it as not passed.
func TestAgreesWithOPA(t *testing.T) {
	opa := opaCLI(t)
	tests := []struct {
		name     string
		opaPaths []string
		report   func(t *testing.T, coverage bool) *Report
		coverage bool // all pass, so opa reports coverage
	}{
		{
			name:     "starter",
			opaPaths: []string{"../../policies/rego"},
			report: func(t *testing.T, coverage bool) *Report {
				rep, err := Run(context.Background(), Options{Dir: "../../policies", Coverage: coverage, Getenv: noEnv, Run: `^data\.`})
				if err != nil {
					t.Fatal(err)
				}
				return rep
			},
			coverage: true,
		},
		{
			// A subset, so that coverage is partial: the lines each
			// counts as covered and not covered must agree too.
			name:     "starter_lib_and_ec2_response",
			opaPaths: []string{"--run", `lib_test|ec2\.response_test`, "../../policies/rego"},
			report: func(t *testing.T, coverage bool) *Report {
				rep, err := Run(context.Background(), Options{Dir: "../../policies", Coverage: coverage, Getenv: noEnv, Run: `lib_test|ec2\.response_test`})
				if err != nil {
					t.Fatal(err)
				}
				return rep
			},
			coverage: true,
		},
		{
			name:     "pass",
			opaPaths: []string{"testdata/base/policies", "testdata/pass/policies"},
			report:   func(t *testing.T, coverage bool) *Report { return run(t, "pass", Options{Coverage: coverage}) },
			coverage: true,
		},
		{
			name:     "fail",
			opaPaths: []string{"testdata/base/policies", "testdata/fail/policies"},
			report:   func(t *testing.T, coverage bool) *Report { return run(t, "fail", Options{Coverage: coverage}) },
		},
		{
			name:     "coverage",
			opaPaths: []string{"testdata/coverage/policies"},
			report: func(t *testing.T, coverage bool) *Report {
				rep, err := Run(context.Background(), Options{Dir: "testdata/coverage", Coverage: coverage, Getenv: noEnv})
				if err != nil {
					t.Fatal(err)
				}
				return rep
			},
			coverage: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := tt.report(t, tt.coverage)
			got := regoCounts(rep)
			want := opaCounts(t, opaTest(t, opa, tt.opaPaths...))
			t.Logf("cordon test: %s; opa test: %s", got, want)
			if got != want {
				t.Errorf("cordon counts %s, opa counts %s", got, want)
			}
			if !tt.coverage {
				return
			}
			var report struct {
				Files map[string]struct {
					Coverage float64 `json:"coverage"`
				} `json:"files"`
				Coverage float64 `json:"coverage"`
			}
			out := opaTest(t, opa, append([]string{"--coverage"}, tt.opaPaths...)...)
			if err := json.Unmarshal(out, &report); err != nil {
				t.Fatalf("opa test --coverage output: %v\n%s", err, out)
			}
			cov := rep.Coverage
			t.Logf("coverage: cordon %.4f%%, opa %.4f%%", cov.Percent, report.Coverage)
			if !near(cov.Percent, report.Coverage) {
				t.Errorf("coverage: cordon %.4f%%, opa %.4f%%", cov.Percent, report.Coverage)
			}
			opaFiles := map[string]float64{}
			for name, f := range report.Files {
				opaFiles[filepath.Base(name)] = f.Coverage
			}
			if len(opaFiles) != len(cov.Files) {
				t.Errorf("coverage of %d files, opa %d", len(cov.Files), len(opaFiles))
			}
			for _, f := range cov.Files {
				if want, ok := opaFiles[filepath.Base(f.File)]; !ok || !near(f.Percent, want) {
					t.Errorf("%s: cordon %.4f%%, opa %.4f%% (reported: %v)", f.File, f.Percent, want, ok)
				}
			}
		})
	}
}
