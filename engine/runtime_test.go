package engine_test

import (
	"context"
	"testing"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
)

// A GuardDuty Runtime Monitoring finding on a container matches a rule
// scoped to instances, and its response targets the host the container
// runs on; without a host (Fargate) the cluster is the finding's resource.
func TestContainerRuntimeFindingTargetsTheHost(t *testing.T) {
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/runtime"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		file        string
		wantRule    string
		wantActions []string
		wantTarget  plan.ResourceRef
	}{
		{"cordon_guardduty_Execution_Runtime_NewBinaryExecuted_ECS_EC2.json", "ec2_runtime",
			[]string{plan.Address("isolate", "i-0e1d2c3b4a5968778"), plan.Address("notify", "i-0e1d2c3b4a5968778")},
			plan.ResourceRef{Type: "aws_instance", ID: "i-0e1d2c3b4a5968778"}},
		{"cordon_guardduty_CryptoCurrency_Runtime_BitcoinTool.B_Container_EC2.json", "ec2_runtime",
			[]string{plan.Address("isolate", "i-0c0ffee0c0ffee001"), plan.Address("notify", "i-0c0ffee0c0ffee001")},
			plan.ResourceRef{Type: "aws_instance", ID: "i-0c0ffee0c0ffee001"}},
		{"cordon_guardduty_Execution_Runtime_SuspiciousCommand_ECS_Fargate.json", "ecs_runtime",
			[]string{plan.Address("notify", "web-fargate")},
			plan.ResourceRef{Type: "aws_ecs_cluster", ID: "web-fargate"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			files, diags := engine.ReadFindings([]string{"../testdata/findings/" + tc.file})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			res, diags := e.Plan(context.Background(), files, engine.PlanOptions{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			p := res.Plan
			if len(p.Incidents) != 1 {
				t.Fatalf("%d incidents, unmatched %+v", len(p.Incidents), p.Unmatched)
			}
			inc := p.Incidents[0]
			if len(inc.Matches) != 1 || inc.Matches[0].Rule != tc.wantRule || inc.Finding.Resource != tc.wantTarget {
				t.Errorf("matches %+v, resource %+v", inc.Matches, inc.Finding.Resource)
			}
			var got []string
			for _, a := range inc.Actions {
				got = append(got, a.Address)
				if a.Target.Type != tc.wantTarget.Type || a.Target.ID != tc.wantTarget.ID {
					t.Errorf("%s targets %+v", a.Address, a.Target)
				}
			}
			if len(got) != len(tc.wantActions) {
				t.Fatalf("actions %v, want %v", got, tc.wantActions)
			}
			for i := range got {
				if got[i] != tc.wantActions[i] {
					t.Errorf("actions %v, want %v", got, tc.wantActions)
				}
			}
		})
	}
}
