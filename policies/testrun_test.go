package policies_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/testrun"
	"github.com/cordonhq/cordon/policies"
)

// TestStarterTests runs `cordon test` on the embedded starter, as
// `cordon init` writes it: every Rego test and every scenario passes, and
// every rule of cordon.hcl has scenarios, so a new repository starts green
// and covered.
func TestStarterTests(t *testing.T) {
	rep, err := testrun.Run(context.Background(), testrun.Options{
		Dir:    ".",
		FS:     policies.Starter(),
		Getenv: func(string) (string, bool) { return "", false },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Diagnostics.HasErrors() {
		t.Fatalf("the starter does not load: %s", rep.Diagnostics.Error())
	}
	rules := map[string]int{}
	for _, f := range rep.Files {
		if len(f.Diagnostics) > 0 {
			t.Errorf("%s: %s", f.File, f.Diagnostics.Error())
		}
		for _, tr := range f.Tests {
			if tr.Status != testrun.Pass {
				t.Errorf("%s (%s:%d): %s: %s\n%s", tr.FullName(), tr.File, tr.Line, tr.Status, tr.Message, tr.Detail)
			}
			if s := tr.Scenario; s != nil {
				for _, r := range s.Planned.Rules {
					rules[r]++
				}
			}
		}
	}
	c := rep.Counts()
	if c.Failed > 0 || c.Passed < 150 {
		t.Errorf("counts %s", c)
	}
	t.Logf("%s", c)

	// Every rule of the starter is exercised by a scenario, and so is the
	// finding no rule matches.
	cfg, err := fs.ReadFile(policies.Starter(), "cordon.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(cfg), "\n") {
		if name, ok := strings.CutPrefix(line, `rule "`); ok {
			name = name[:strings.IndexByte(name, '"')]
			if rules[name] < 2 {
				t.Errorf("rule %s is planned by %d scenarios, want at least 2", name, rules[name])
			}
		}
	}
}
