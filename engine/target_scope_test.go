package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
)

// A response may name any resource of the finding or its facts, but only
// targets the rule's scopes admit are planned (docs/configuration.md): a finding on an
// IAM access key must not stop an instance tagged cordon:exempt through a
// scope of IAM types.
func TestResponseTargetsOutsideTheScopes(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/outofscope"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files, diags := engine.ReadFindings([]string{"testdata/outofscope/finding.json"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(res.Plan.Incidents) != 1 {
		t.Fatalf("%d incidents", len(res.Plan.Incidents))
	}
	inc := res.Plan.Incidents[0]
	errs := map[string]plan.IncidentError{}
	for _, e := range inc.Errors {
		errs[e.Rule] = e
	}
	planned := map[string][]string{}
	for _, a := range inc.Actions {
		for _, r := range a.Rules {
			planned[r] = append(planned[r], a.Address)
		}
	}
	for _, tc := range []struct {
		rule string
		// want is in the error's detail; empty: the rule plans wantAction.
		want       []string
		wantAction string
	}{
		{rule: "keys_only", want: []string{`aws_instance "i-0d1d2d3d4d5d6d7d8"`, "scope.keys does not match it"}},
		{rule: "excluded", want: []string{`scope.instances excludes it (tag "cordon:exempt" = "true")`, "scope.keys does not match it"}},
		{rule: "conditioned", want: []string{"scope.not_platform's condition is false for it"}},
		{rule: "elsewhere", want: []string{`aws_instance "i-0a1b2c3d4e5f67890"`, "scope.other_account does not match it"}},
		{rule: "admitted", wantAction: `action.stop["i-0a1b2c3d4e5f67890"]`},
		{rule: "primary", wantAction: `action.disable_key["AKIAXQ4G7NF2CIDEPLOY"]`},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			got, failed := errs[tc.rule]
			if tc.wantAction != "" {
				if failed {
					t.Fatalf("error %s: %s", got.Summary, got.Detail)
				}
				if len(planned[tc.rule]) != 1 || planned[tc.rule][0] != tc.wantAction {
					t.Errorf("planned %v, want %s", planned[tc.rule], tc.wantAction)
				}
				return
			}
			if !failed {
				t.Fatalf("no error; planned %v", planned[tc.rule])
			}
			if got.Summary != "Response targets a resource outside the rule's scopes" {
				t.Errorf("summary %q", got.Summary)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Detail, w) {
					t.Errorf("detail %q\nwant it to contain %q", got.Detail, w)
				}
			}
			// The error points at the policy line that produced the target.
			if !strings.Contains(got.Detail, ".rego:") || !strings.Contains(got.Detail, "Nothing of this investigation is planned") {
				t.Errorf("detail %q does not name the policy line", got.Detail)
			}
			if len(planned[tc.rule]) != 0 {
				t.Errorf("rule %s planned %v despite its error", tc.rule, planned[tc.rule])
			}
		})
	}
	for _, a := range inc.Actions {
		if a.Target.ID == "i-0d1d2d3d4d5d6d7d8" {
			t.Errorf("the exempt instance is a target: %s by %v", a.Address, a.Rules)
		}
	}
}
