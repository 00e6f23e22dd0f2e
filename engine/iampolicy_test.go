package engine_test

import (
	"context"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/cordonhq/cordon/engine"
)

// The daemon's sources call AWS with the same identity as actions and
// collectors: the policy grants their calls too, one statement per source
// type.
func TestIAMPolicyIncludesSources(t *testing.T) {
	fsys := fstest.MapFS{
		"cordon.hcl": &fstest.MapFile{Data: []byte(`
scope "any" {}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
}

rule "r" {
  scopes  = [scope.any]
  actions = [action.isolate]
}

source "sqs" "events" {
  queue_url = "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings"
}

source "sqs" "more_events" {
  queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/cordon-findings"
}

source "guardduty" "poll" {
  regions = ["us-west-2"]
}
`)},
		"policies/verdict.rego":  &fstest.MapFile{Data: []byte("package cordon.verdict\n\nverdict := \"benign\"\n")},
		"policies/response.rego": &fstest.MapFile{Data: []byte("package cordon.response\n\nactions := set()\n")},
	}
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "cfg", FS: fsys})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	byID := map[string][]string{}
	for _, s := range e.IAMPolicy().Statement {
		byID[s.Sid] = s.Action
	}
	want := map[string][]string{
		"CordonSourceSqs":       {"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"},
		"CordonSourceGuardduty": {"guardduty:GetFindings", "guardduty:ListDetectors", "guardduty:ListFindings"},
	}
	for sid, actions := range want {
		if !slices.Equal(byID[sid], actions) {
			t.Errorf("statement %s = %v, want %v", sid, byID[sid], actions)
		}
	}
	if _, ok := byID["CordonAwsEc2Isolate"]; !ok || len(byID) != 3 {
		t.Errorf("statements %v: want the action's and one per source type", byID)
	}
}
