package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/internal/demo"
)

// The collectors inside a plan, against the emulator (docs/collectors.md): every
// collector of an investigation runs, each under its own timeout; a
// failure becomes facts.<name>.error and the investigation goes on with
// what it has, unless the collector is required; a collector two rules
// list runs once per resource.

// planCollecting plans the web-1 finding with testdata/collect and the
// given variables, and returns web-1's incident and its data.
func planCollecting(t *testing.T, ae *applyEnv, vars map[string]cty.Value) (*plan.Incident, *plan.IncidentData) {
	t.Helper()
	e, diags := engine.Load(context.Background(), engine.Options{Dir: "testdata/collect", Values: vars})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files, diags := engine.ReadFindings([]string{web1Findings})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	res, diags := e.Plan(context.Background(), files, engine.PlanOptions{AWS: ae.aws, KeepData: true})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(res.Plan.Incidents) != 1 {
		t.Fatalf("%d incidents, want 1", len(res.Plan.Incidents))
	}
	inc := res.Plan.Incidents[0]
	return inc, res.Data[inc.ID]
}

func callCount(emu *awsemu.Emulator, action string) int {
	n := 0
	for _, c := range emu.Calls() {
		if c.Action() == action {
			n++
		}
	}
	return n
}

func TestCollectorsInAPlan(t *testing.T) {
	t.Run("all collect; shared across rules", func(t *testing.T) {
		ae := newApplyEnv(t)
		inc, data := planCollecting(t, ae, nil)
		if len(inc.Errors) > 0 || len(inc.Verdicts) != 2 {
			t.Fatalf("errors %v, %d verdicts", inc.Errors, len(inc.Verdicts))
		}
		for _, name := range []string{"describe", "triage", "trail", "related", "console", "disk"} {
			if _, ok := data.Facts[name]; !ok {
				t.Errorf("no facts from %s", name)
			}
		}
		if data.Facts["describe"]["instance_id"] != demo.WebServerID {
			t.Errorf("describe facts: %v", data.Facts["describe"])
		}
		// Both rules list describe; it ran once for web-1.
		if n := callCount(ae.emu, "ec2:DescribeInstanceAttribute"); n == 0 || n > 2 {
			t.Errorf("DescribeInstanceAttribute called %d times", n)
		}
		if n := callCount(ae.emu, "ec2:DescribeVolumes"); n != 1 {
			t.Errorf("DescribeVolumes called %d times, want once: the describe collector's facts are shared by the two rules", n)
		}
		if n := callCount(ae.emu, "ssm:SendCommand"); n != 1 {
			t.Errorf("SendCommand called %d times, want 1", n)
		}
	})

	t.Run("one fails, the others succeed", func(t *testing.T) {
		ae := newApplyEnv(t)
		ae.emu.Faults().Fail("ec2:DescribeInstances", "*", "UnauthorizedOperation", "You are not authorized to perform this operation.")
		inc, data := planCollecting(t, ae, nil)
		if len(inc.Errors) > 0 || len(inc.Verdicts) != 2 {
			t.Fatalf("the investigation should go on with what it has: errors %v", inc.Errors)
		}
		msg, _ := data.Facts["describe"]["error"].(string)
		if !strings.Contains(msg, "UnauthorizedOperation") {
			t.Errorf("facts.describe.error = %q, want the API's error", msg)
		}
		if _, failed := data.Facts["trail"]["error"]; failed {
			t.Errorf("trail failed too: %v", data.Facts["trail"])
		}
		if _, ok := data.Facts["trail"]["events"]; !ok {
			t.Errorf("trail facts: %v", data.Facts["trail"])
		}
	})

	t.Run("a collector that never finishes times out alone", func(t *testing.T) {
		ae := newApplyEnv(t)
		ae.emu.SetCommandResult(demo.WebServerID, awsemu.CommandResult{Polls: -1})
		inc, data := planCollecting(t, ae, map[string]cty.Value{"triage_timeout": cty.StringVal("1s")})
		if len(inc.Errors) > 0 {
			t.Fatalf("errors %v", inc.Errors)
		}
		msg, _ := data.Facts["triage"]["error"].(string)
		if !strings.Contains(msg, "timed out after 1s") {
			t.Errorf("facts.triage.error = %q, want a timeout", msg)
		}
		if _, failed := data.Facts["describe"]["error"]; failed {
			t.Errorf("describe failed too: %v", data.Facts["describe"])
		}
	})

	t.Run("a required collector's failure fails the investigation", func(t *testing.T) {
		ae := newApplyEnv(t)
		ae.emu.Faults().Fail("ec2:DescribeInstances", "*", "UnauthorizedOperation", "You are not authorized to perform this operation.")
		inc, _ := planCollecting(t, ae, map[string]cty.Value{"describe_required": cty.True})
		if len(inc.Errors) == 0 || len(inc.Actions) != 0 {
			t.Fatalf("errors %v, actions %d: want an error and no actions", inc.Errors, len(inc.Actions))
		}
		if e := inc.Errors[0]; e.Summary != "Required collector failed" || !strings.Contains(e.Detail, "required collector describe failed") {
			t.Errorf("error %+v", e)
		}
	})
}
