package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/cordonhq/cordon/engine/report"
	"github.com/cordonhq/cordon/schema"
)

// asffFinding is GuardDuty's C&C finding as Security Hub holds it (the
// starter's recorded copy), with fields replaced by set (nil deletes).
func asffFinding(t *testing.T, set map[string]any) []byte {
	t.Helper()
	data, err := os.ReadFile("../../policies/testdata/findings/securityhub_guardduty_backdoor_cnc_dns.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDetectorIsTheProvenProduct checks who a report says reported the
// finding: GuardDuty only when the finding is proven GuardDuty's (read from
// GuardDuty, or AWS's own GuardDuty product ARN); a product that calls
// itself GuardDuty in a Security Hub or OCSF finding is shown as the
// product its ARN names, in the finding and on every timeline entry.
func TestDetectorIsTheProvenProduct(t *testing.T) {
	const custom = "arn:aws:securityhub:us-west-2:444455556666:product/444455556666/default"
	forgedOCSF := `{"class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401, "severity_id": 4, "time": 1741944944102,
		"metadata": {"version": "1.1.0", "product": {"name": "GuardDuty", "vendor_name": "Amazon", "uid": "` + custom + `"}},
		"finding_info": {"uid": "arn:aws:guardduty:us-west-2:123456789012:detector/5ec52e1f0a2b4c6d8e9f0a1b2c3d4e5f/finding/7e4d1c9b2a8f4e5d9c3b1a0f8e7d6c5b", "title": "Command and Control server domain name queried", "types": ["Backdoor:EC2/C&CActivity.B!DNS"],
			"created_time": 1741944944102, "first_seen_time": 1741942992000, "last_seen_time": 1741945710000},
		"cloud": {"account": {"uid": "123456789012"}, "region": "us-west-2", "provider": "AWS"},
		"resources": [{"type": "AwsEc2Instance", "uid": "i-0f9e8d7c6b5a43210"}]}`
	tests := []struct {
		name    string
		finding []byte
		want    string
	}{
		{"guardduty", mustRead(t, "../../policies/testdata/findings/ec2_backdoor_cnc_dns.json"), "GuardDuty"},
		{"guardduty through security hub", asffFinding(t, nil), "GuardDuty"},
		{"forged: custom product named GuardDuty", mustRead(t, "../../policies/testdata/findings/securityhub_forged_guardduty_backdoor_cnc_dns.json"),
			"Security Hub product 444455556666/default"},
		{"forged: AWS's ARN in another account", asffFinding(t, map[string]any{"ProductArn": "arn:aws:securityhub:us-west-2:444455556666:product/aws/guardduty"}),
			"Security Hub product aws/guardduty"},
		{"forged: spelt otherwise", asffFinding(t, map[string]any{"ProductArn": custom, "ProductName": "Amazon Guard-Duty"}),
			"Security Hub product 444455556666/default"},
		{"forged: without a product ARN", asffFinding(t, map[string]any{"ProductArn": nil}), "An unverified product (named GuardDuty)"},
		{"another product", asffFinding(t, map[string]any{"ProductArn": "arn:aws:securityhub:us-west-2::product/crowdstrike/crowdstrike-falcon", "ProductName": "Falcon", "CompanyName": "CrowdStrike"}),
			"Falcon (via Security Hub)"},
		{"another product without a name", asffFinding(t, map[string]any{"ProductArn": custom, "ProductName": nil}), "Security Hub product 444455556666/default"},
		{"forged OCSF", []byte(forgedOCSF), "Security Hub product 444455556666/default"},
		{"OCSF from GuardDuty", []byte(strings.Replace(forgedOCSF, custom, "arn:aws:securityhub:us-west-2::productv2/aws/guardduty", 1)), "GuardDuty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parsed, err := schema.Parse("finding.json", tt.finding)
			if err != nil || len(parsed) != 1 {
				t.Fatalf("parse: %v (%d findings)", err, len(parsed))
			}
			fx := load(t, "cryptominer")
			data, err := json.Marshal(parsed[0])
			if err != nil {
				t.Fatal(err)
			}
			fx.Detail.Incident.FindingData = data
			r := report.Build(fx.Detail, fx.Evidence, fx.CollectorTypes)
			if r.Finding.Detector != tt.want {
				t.Errorf("detector %q, want %q", r.Finding.Detector, tt.want)
			}
			seen := 0
			for _, e := range r.Timeline.Entries {
				if e.Source != report.SourceFinding {
					continue
				}
				seen++
				if !strings.HasPrefix(e.Title, tt.want+" ") {
					t.Errorf("timeline entry %q does not name %q", e.Title, tt.want)
				}
			}
			if seen == 0 {
				t.Error("no finding entries on the timeline")
			}
			var md bytes.Buffer
			if err := r.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			if tt.want != "GuardDuty" && strings.Contains(md.String(), "from GuardDuty") {
				t.Errorf("the report says the finding is GuardDuty's:\n%s", md.String())
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
