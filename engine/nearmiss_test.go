package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
)

// A finding no rule matched explains itself (docs/plan-and-apply.md's unmatched list):
// what it is, and for each rule that takes its source and type, what kept
// the rule from matching.
func TestUnmatchedFindingsExplainThemselves(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/nearmiss"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files, diags := engine.ReadFindings([]string{web1Findings})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := res.Plan
	if len(p.Incidents) != 0 || len(p.Unmatched) != 1 {
		t.Fatalf("%d incidents, unmatched %+v", len(p.Incidents), p.Unmatched)
	}
	u := p.Unmatched[0]
	if u.FindingID != "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7" || u.Reason != plan.ReasonNoRuleMatched || u.Source != "guardduty" ||
		u.Type != "CryptoCurrency:EC2/BitcoinTool.B!DNS" || u.Severity != "high" ||
		*u.Resource != (plan.UnmatchedTarget{Type: "aws_instance", ID: web1, Account: "123456789012", Region: "us-west-2"}) {
		t.Errorf("unmatched %+v, resource %+v", u, u.Resource)
	}
	want := []plan.NearMiss{
		{Rule: "conditioned", Scope: "public", Why: "its condition is false"},
		{Rule: "critical_only", Why: `severity "high" is under the rule's min_severity "critical"`},
		{Rule: "disabled", Why: "the rule is disabled (enabled = false)"},
		{Rule: "elsewhere", Scope: "other_account", Why: `account "123456789012" is not in accounts ["999999999999", "888888888888"]`},
		{Rule: "elsewhere", Scope: "staging", Why: `tag "Environment" = "prod" does not match "staging"; tag "Owner" is missing (tags wants "*")`},
		{Rule: "exempt", Scope: "prod_exempt", Why: `exclude_tags excludes tag "Environment" = "prod"`},
		{Rule: "rule_condition", Scope: "anywhere", Why: "the rule's condition is false"},
		{Rule: "wrong_region", Scope: "europe", Why: `region "us-west-2" is not in regions ["eu-*"]`},
		{Rule: "wrong_type", Scope: "keys", Why: `resource type "aws_instance" is not in resource_types ["aws_iam_access_key", "aws_iam_user"]`},
	}
	got := map[string]plan.NearMiss{}
	for _, m := range u.NearMisses {
		got[m.Rule+"/"+m.Scope] = m
	}
	for _, w := range want {
		if g, ok := got[w.Rule+"/"+w.Scope]; !ok || g != w {
			t.Errorf("near miss of rule %s, scope %q: %+v, want %+v", w.Rule, w.Scope, g, w)
		}
		delete(got, w.Rule+"/"+w.Scope)
	}
	// Rules of another source or type are not near.
	for k, m := range got {
		t.Errorf("unexpected near miss %s: %+v", k, m)
	}

	// The JSON keeps docs/plan-and-apply.md's keys and adds the rest.
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Unmatched []map[string]any `json:"unmatched"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	entry := doc.Unmatched[0]
	for _, k := range []string{"finding_id", "reason", "source", "type", "severity", "resource", "near_misses"} {
		if _, ok := entry[k]; !ok {
			t.Errorf("unmatched entry lacks %q: %v", k, entry)
		}
	}
	if nm, _ := entry["near_misses"].([]any); len(nm) != len(want) {
		t.Errorf("near_misses %v", entry["near_misses"])
	}

	// The human plan lists them under the finding.
	buf.Reset()
	p.Render(&buf, plan.RenderOptions{})
	human := buf.String()
	for _, line := range []string{
		"  - b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7 (no rule matched)\n",
		"      finding   guardduty · CryptoCurrency:EC2/BitcoinTool.B!DNS · high\n",
		"      resource  aws_instance." + web1 + " (123456789012, us-west-2)\n",
		"      near miss rule.disabled: the rule is disabled (enabled = false)\n",
		`      near miss rule.wrong_region via scope.europe: region "us-west-2" is not in regions ["eu-*"]` + "\n",
	} {
		if !strings.Contains(human, line) {
			t.Errorf("human plan lacks %q:\n%s", line, human)
		}
	}
}

// A finding whose type no rule takes says so, and near_misses is [] in
// the JSON; entries that were not matched against the rules (a record
// that could not be read) have no near_misses at all.
func TestUnmatchedWithoutNearMisses(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/nearmiss"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files := findingsOf(
		[]byte(`{"accountId":"1","region":"eu-west-1","id":"s3-1","type":"Policy:S3/BucketBlockPublicAccessDisabled","severity":2,`+
			`"resource":{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"b","tags":[{"key":"Environment","value":"prod"}]}]},"service":{"serviceName":"guardduty"}}`),
		[]byte(`{"hello":"world"}`),
	)
	res, _ := e.Plan(context.Background(), files, engine.PlanOptions{})
	p := res.Plan
	if len(p.Unmatched) != 2 {
		t.Fatalf("unmatched %+v", p.Unmatched)
	}
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Unmatched []map[string]json.RawMessage `json:"unmatched"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Unmatched[0]["near_misses"]; !ok {
		t.Errorf("no near_misses for a finding no rule matched: %s", buf.String())
	}
	if _, ok := doc.Unmatched[1]["near_misses"]; ok || !strings.HasPrefix(p.Unmatched[1].Reason, "rejected: ") {
		t.Errorf("a rejected record has near_misses: %s", buf.String())
	}

	// No near rule at all.
	u := &plan.Unmatched{FindingID: "f", Reason: plan.ReasonNoRuleMatched, Source: "ocsf", Type: "t", Severity: "low",
		Resource: &plan.UnmatchedTarget{}}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"near_misses":[]`) {
		t.Errorf("JSON %s", b)
	}
	q := &plan.Plan{Unmatched: []*plan.Unmatched{u}}
	q.Recount(1)
	buf.Reset()
	q.Render(&buf, plan.RenderOptions{})
	if !strings.Contains(buf.String(), "no rule takes its source and type") || !strings.Contains(buf.String(), "resource  -.- (-, -)") {
		t.Errorf("human plan:\n%s", buf.String())
	}
}
