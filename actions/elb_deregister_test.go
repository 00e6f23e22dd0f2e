package actions

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/cordonhq/cordon/internal/awsemu"
)

// webTG is web-tg's ARN, as the emulator generates it.
func webTG(t *testing.T, te *testEnv) string {
	t.Helper()
	for arn, tg := range te.emu.Snapshot().Accounts[prodAccount].Regions[region].TargetGroups {
		if tg.Name == "web-tg" {
			return arn
		}
	}
	t.Fatal("web-tg is not in the fleet")
	return ""
}

// registrations are an instance's registrations in the emulator, "arn:port"
// and "lb:name", sorted.
func registrations(te *testEnv, id string) []string {
	r := te.emu.Snapshot().Accounts[prodAccount].Regions[region]
	var out []string
	for arn, tg := range r.TargetGroups {
		for _, x := range tg.Targets {
			if x.ID == id {
				out = append(out, fmt.Sprintf("%s:%d", arn, x.Port))
			}
		}
	}
	for name, lb := range r.LoadBalancers {
		if slices.Contains(lb.Instances, id) {
			out = append(out, "lb:"+name)
		}
	}
	slices.Sort(out)
	return out
}

// jsonRoundTrip gives a state as it comes back from a plan or state file.
func jsonRoundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestELBDeregisterRead(t *testing.T) {
	te := newTestEnv(t)
	tg := webTG(t, te)
	ex := newExecutor(t, "aws_elb_deregister", nil)
	tests := []struct {
		id   string
		want map[string]any
	}{
		{web1, map[string]any{"target_groups": []any{tg}, "load_balancers": []any{"legacy-web"}, "target_group_ports": map[string]any{tg: []any{80}}}},
		{web2, map[string]any{"target_groups": []any{tg}, "load_balancers": []any{}, "target_group_ports": map[string]any{tg: []any{80}}}},
		{batch1, map[string]any{"target_groups": []any{}, "load_balancers": []any{}, "target_group_ports": map[string]any{}}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			live, err := ex.Read(bg, te.env, instanceRequest(tc.id))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(live, tc.want) {
				t.Errorf("Read =\n%v\nwant\n%v", live, tc.want)
			}
		})
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

func TestELBDeregisterApplyRevert(t *testing.T) {
	te := newTestEnv(t)
	tg := webTG(t, te)
	ex := newExecutor(t, "aws_elb_deregister", nil)
	rev := ex.(Reverter)

	// web-2 also serves on a port override: revert must restore both.
	v2 := te.env.AWS.ELBv2(prodAccount, region)
	if _, err := v2.RegisterTargets(bg, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg),
		Targets: []elbv2types.TargetDescription{{Id: aws.String(web2), Port: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id        string
		wantPorts []any
		wantRegs  []string
	}{
		{web1, []any{80}, []string{tg + ":80", "lb:legacy-web"}},
		{web2, []any{80, 8080}, []string{tg + ":80", tg + ":8080"}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			req := instanceRequest(tc.id)
			if got := registrations(te, tc.id); !slices.Equal(got, tc.wantRegs) {
				t.Fatalf("registrations before: %v, want %v", got, tc.wantRegs)
			}
			before, err := ex.Read(bg, te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := before["target_group_ports"].(map[string]any)[tg]; !reflect.DeepEqual(got, tc.wantPorts) {
				t.Errorf("ports %v, want %v", got, tc.wantPorts)
			}
			after, changed, err := ex.Apply(bg, te.env, req, before)
			if err != nil || !changed {
				t.Fatalf("Apply: changed=%v err=%v", changed, err)
			}
			if got := registrations(te, tc.id); len(got) != 0 {
				t.Errorf("still registered: %v", got)
			}
			live, err := ex.Read(bg, te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(live, after) {
				t.Errorf("Read after Apply = %v, want the after-state %v", live, after)
			}

			te.emu.ResetCalls()
			if _, changed, err := ex.Apply(bg, te.env, req, live); err != nil || changed {
				t.Errorf("second Apply: changed=%v err=%v", changed, err)
			}
			if n := len(actionCalls(te.emu)); n != 0 {
				t.Errorf("second Apply made %d calls", n)
			}

			// The before-state as the engine keeps it: through JSON.
			restored, err := rev.Revert(bg, te.env, req, jsonRoundTrip(t, before), jsonRoundTrip(t, after))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(restored, before) {
				t.Errorf("Revert = %v, want %v", restored, before)
			}
			if got := registrations(te, tc.id); !slices.Equal(got, tc.wantRegs) {
				t.Errorf("registrations after Revert: %v, want %v", got, tc.wantRegs)
			}
		})
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

func TestELBDeregisterErrors(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		fault    func(*awsemu.Faults)
		apply    bool
		code     string
		wantRegs func(tg string) []string // web-1's registrations afterwards
	}{
		{"unknown instance", nosuch, nil, false, "InvalidTarget", nil},
		{"classic deregister denied: target groups done, error returned", web1,
			func(f *awsemu.Faults) {
				f.Fail("elasticloadbalancing:DeregisterInstancesFromLoadBalancer", web1, "AccessDenied", "not authorized")
			}, true, "AccessDenied",
			func(string) []string { return []string{"lb:legacy-web"} }},
		{"target group deregister denied: nothing done", web1,
			func(f *awsemu.Faults) {
				f.Fail("elasticloadbalancing:DeregisterTargets", "*", "AccessDenied", "not authorized")
			}, true, "AccessDenied",
			func(tg string) []string { return []string{tg + ":80", "lb:legacy-web"} }},
		{"listing denied", web1,
			func(f *awsemu.Faults) {
				f.Fail("elasticloadbalancing:DescribeTargetGroups", "*", "AccessDenied", "not authorized")
			}, false, "AccessDenied", nil},
		{"health throttled twice, then served", web1,
			func(f *awsemu.Faults) { f.Throttle("elasticloadbalancing:DescribeTargetHealth", 2) },
			true, "", func(string) []string { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			tg := webTG(t, te)
			ex := newExecutor(t, "aws_elb_deregister", nil)
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			req := instanceRequest(tc.id)
			live, err := ex.Read(bg, te.env, req)
			if err == nil && tc.apply {
				_, _, err = ex.Apply(bg, te.env, req, live)
			}
			if tc.code == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.code != "" && apiCode(err) != tc.code {
				t.Fatalf("error %v (code %q), want code %s", err, apiCode(err), tc.code)
			}
			if tc.wantRegs != nil {
				if got, want := registrations(te, web1), tc.wantRegs(tg); !slices.Equal(got, want) {
					t.Errorf("registrations %v, want %v", got, want)
				}
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
}

// More target groups than one DescribeTargetGroups page (400) holds: the
// registration in the last one is found.
func TestELBDeregisterManyTargetGroups(t *testing.T) {
	const n = 405
	te := newTestEnvSeed(t, func(s *awsemu.Seed) {
		r := s.Accounts[1].Regions[region]
		for i := range n {
			r.TargetGroups = append(r.TargetGroups, awsemu.SeedTargetGroup{
				Name: fmt.Sprintf("tg-%03d", i), Protocol: "HTTP", Port: 8000, VPC: "vpc-0a1b2c3d4e5f60001"})
		}
		r.Instances[1].TargetGroups = append(r.Instances[1].TargetGroups, fmt.Sprintf("tg-%03d", n-1))
		s.Accounts[1].Regions[region] = r
	})
	ex := newExecutor(t, "aws_elb_deregister", nil)
	live, err := ex.Read(bg, te.env, instanceRequest(web2))
	if err != nil {
		t.Fatal(err)
	}
	tgs := stringList(live["target_groups"])
	if len(tgs) != 2 {
		t.Fatalf("target groups %v, want web-tg and tg-%03d", tgs, n-1)
	}
	calls := actionCalls(te.emu)
	if got := countCalls(calls, "elasticloadbalancing:DescribeTargetGroups"); got != 2 {
		t.Errorf("%d DescribeTargetGroups calls, want 2 pages", got)
	}
	if got := countCalls(calls, "elasticloadbalancing:DescribeTargetHealth"); got != n+1 {
		t.Errorf("%d DescribeTargetHealth calls, want %d", got, n+1)
	}
	if _, changed, err := ex.Apply(bg, te.env, instanceRequest(web2), live); err != nil || !changed {
		t.Fatalf("Apply: changed=%v err=%v", changed, err)
	}
	if got := registrations(te, web2); len(got) != 0 {
		t.Errorf("still registered: %v", got)
	}
}
