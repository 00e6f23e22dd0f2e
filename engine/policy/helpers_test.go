package policy

import (
	"os"
	"testing"

	"github.com/cordonhq/cordon/schema"
	"github.com/open-policy-agent/opa/v1/ast"
)

// displayDir is the configuration directory name tests load under, so that
// file names in diagnostics and errors are "cfg/eval/…".
const displayDir = "cfg"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadEval loads testdata/eval with the test input schema.
func loadEval(t testing.TB, opts Options) *Set {
	t.Helper()
	opts.InputSchema = readTestdata(t, "input.schema.json")
	s, diags := Load(os.DirFS("testdata"), displayDir, []string{"eval"}, opts)
	if diags.HasErrors() {
		t.Fatalf("loading testdata/eval: %v", diags)
	}
	return s
}

// testFinding is the GuardDuty Backdoor:EC2/C&CActivity.B!DNS sample of
// testdata/guardduty_backdoor_dns.json normalized by hand as docs/findings.md and
// FACTS.md describe, so these tests do not wait on the parsers.
func testFinding(t testing.TB) *schema.Finding {
	t.Helper()
	res := schema.Resource{
		Type: schema.ResourceInstance,
		ID:   "i-99999999",
		Tags: map[string]string{},
		Details: map[string]any{
			"instance_id":              "i-99999999",
			"image_id":                 "ami-99999999",
			"image_description":        "GeneratedFindingInstaceImageDescription",
			"instance_type":            "c3.large",
			"instance_state":           "running",
			"availability_zone":        "GeneratedFindingInstaceAvailabilityZone",
			"launch_time":              "2017-12-19T01:37:35.000Z",
			"public_ip":                "198.51.100.0",
			"private_ip":               "10.0.0.1",
			"public_dns_name":          "GeneratedFindingPublicDNSName",
			"private_dns_name":         "GeneratedFindingPrivateDnsName",
			"subnet_id":                "GeneratedFindingSubnetId",
			"vpc_id":                   "GeneratedFindingVPCId",
			"security_groups":          []any{"GeneratedFindingSecurityId"},
			"iam_instance_profile_arn": "arn:aws:iam::id:example/instance/profile",
			"iam_instance_profile_id":  "GeneratedFindingInstanceProfileId",
			"network_interfaces": []any{map[string]any{
				"id":              "eni-bfcffe88",
				"private_ip":      "10.0.0.1",
				"public_ip":       "198.51.100.0",
				"subnet_id":       "GeneratedFindingSubnetId",
				"vpc_id":          "GeneratedFindingVPCId",
				"security_groups": []any{"GeneratedFindingSecurityId"},
			}},
		},
	}
	for i := 1; i <= 9; i++ {
		k := "GeneratedFindingInstaceTag" + string(rune('0'+i))
		res.Tags[k] = "GeneratedFindingInstaceTagValue" + string(rune('0'+i))
	}
	return &schema.Finding{
		ID:            "14bd952561ab40e0b9275f648fcca0f2",
		Source:        schema.SourceGuardDuty,
		Type:          "Backdoor:EC2/C&CActivity.B!DNS",
		Title:         "Command and Control server domain name queried by EC2 instance i-99999999.",
		Description:   "EC2 instance i-99999999 is querying a domain name associated with a known Command & Control server.",
		Severity:      "high",
		SeverityScore: 8,
		Account:       "id",
		Region:        "us-east-2",
		Partition:     "aws",
		CreatedAt:     "2021-08-09T09:42:27.926Z",
		UpdatedAt:     "2021-09-22T14:24:35.130Z",
		Count:         3,
		Resource:      res,
		Resources:     []schema.Resource{res},
		Network:       &schema.Network{Domain: "GeneratedFindingDomainName"},
		Raw:           readTestdata(t, "guardduty_backdoor_dns.json"),
	}
}

// testFacts are in-memory facts of an aws_ec2_describe collector named
// "describe", as the engine passes them.
func testFacts() ast.Value {
	return ToValue(map[string]any{
		"describe": map[string]any{
			"instance_id": "i-99999999",
			"state":       "running",
			"public_ip":   "198.51.100.0",
			"tags":        map[string]any{"Environment": "prod"},
		},
	})
}

func testInput(t testing.TB) ast.Object {
	t.Helper()
	f := testFinding(t)
	return BuildInput(&Input{
		Finding: f, Resource: &f.Resource, Facts: testFacts(),
		Scope: "prod_web", Rule: "ec2_compromise",
		Actions: []string{"isolate", "snapshot", "stop", "notify"},
	})
}
