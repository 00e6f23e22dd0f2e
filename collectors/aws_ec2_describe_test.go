package collectors

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// The fleet's instances and what the seed (or the ids it generates,
// testdata/fleet_state.golden.json) says about them.
const (
	web1     = "i-0a1b2c3d4e5f60101"
	web2     = "i-0a1b2c3d4e5f60102"
	batch1   = "i-0a1b2c3d4e5f60103"
	oldInst  = "i-0a1b2c3d4e5f60104"
	web1Root = "vol-0a1b2c3d4e5f60301"
	web1Data = "vol-0a1b2c3d4e5f60302"
	webTG    = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/web-tg/82bd45b660ce66cd"
	sgWeb    = "sg-0a1b2c3d4e5f60021"
	sgApp    = "sg-0a1b2c3d4e5f60022"
	sgIsol   = "sg-0a1b2c3d4e5f60023"
)

func TestEC2DescribeFacts(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		change func(*awsemu.Seed)
		want   map[string]any
	}{
		{
			name: "running in an ASG, a target group and a classic load balancer", id: web1,
			want: map[string]any{
				"instance_id": web1, "state": "running", "instance_type": "t3.small", "image_id": "ami-0f3c7d07486cad139",
				"launch_time": "2025-01-02T08:00:00Z", "availability_zone": "us-east-1a",
				"private_ip": "10.0.1.10", "public_ip": "198.51.100.10",
				"vpc_id": "vpc-0a1b2c3d4e5f60001", "subnet_id": "subnet-0a1b2c3d4e5f60011",
				"disable_api_termination": false, "instance_initiated_shutdown_behavior": "stop",
				"iam_instance_profile": map[string]any{
					"arn": "arn:aws:iam::111122223333:instance-profile/web-profile", "id": "AIPAEMUWEBPROFILE001", "role_name": "web-role"},
				"network_interfaces": []any{map[string]any{
					"id": "eni-0a1b2c3d4e5f60201", "private_ip": "10.0.1.10", "public_ip": "198.51.100.10",
					"subnet_id": "subnet-0a1b2c3d4e5f60011", "vpc_id": "vpc-0a1b2c3d4e5f60001",
					"security_groups": []any{sgWeb, sgApp}, "device_index": 0}},
				"volumes": []any{
					map[string]any{"id": web1Root, "device": "/dev/xvda", "delete_on_termination": true, "size_gb": 8, "encrypted": false, "volume_type": "gp3"},
					map[string]any{"id": web1Data, "device": "/dev/sdf", "delete_on_termination": false, "size_gb": 100, "encrypted": true, "volume_type": "gp3"},
				},
				"tags":              map[string]any{"Name": "web-1", "env": "prod"},
				"autoscaling_group": "web-asg",
				"target_groups":     []any{webTG},
				"load_balancers":    []any{"legacy-web"},
			},
		},
		{
			name: "two interfaces, in device order, without a public address", id: web2,
			want: map[string]any{
				"instance_id": web2, "state": "running", "instance_type": "t3.small", "image_id": "ami-0f3c7d07486cad139",
				"launch_time": "2025-01-02T08:05:00Z", "availability_zone": "us-east-1a", "private_ip": "10.0.1.11",
				"vpc_id": "vpc-0a1b2c3d4e5f60001", "subnet_id": "subnet-0a1b2c3d4e5f60011",
				"disable_api_termination": false, "instance_initiated_shutdown_behavior": "stop",
				"iam_instance_profile": map[string]any{
					"arn": "arn:aws:iam::111122223333:instance-profile/web-profile", "id": "AIPAEMUWEBPROFILE001", "role_name": "web-role"},
				"network_interfaces": []any{
					map[string]any{"id": "eni-0a1b2c3d4e5f60202", "private_ip": "10.0.1.11", "subnet_id": "subnet-0a1b2c3d4e5f60011",
						"vpc_id": "vpc-0a1b2c3d4e5f60001", "security_groups": []any{sgWeb}, "device_index": 0},
					map[string]any{"id": "eni-0a1b2c3d4e5f60203", "private_ip": "10.0.1.12", "subnet_id": "subnet-0a1b2c3d4e5f60011",
						"vpc_id": "vpc-0a1b2c3d4e5f60001", "security_groups": []any{sgApp}, "device_index": 1},
				},
				"volumes": []any{map[string]any{"id": "vol-0a1b2c3d4e5f60303", "device": "/dev/xvda", "delete_on_termination": true,
					"size_gb": 8, "encrypted": false, "volume_type": "gp3"}},
				"tags":              map[string]any{"Name": "web-2", "env": "prod"},
				"autoscaling_group": "web-asg",
				"target_groups":     []any{webTG},
				"load_balancers":    []any{},
			},
		},
		{
			name: "stopped, protected, in no group", id: batch1,
			want: map[string]any{
				"instance_id": batch1, "state": "stopped", "instance_type": "c5.large", "image_id": "ami-0211ba5413e523139",
				"launch_time": "2024-12-01T00:00:00Z", "availability_zone": "us-east-1b", "private_ip": "10.0.2.10",
				"vpc_id": "vpc-0a1b2c3d4e5f60001", "subnet_id": "subnet-0a1b2c3d4e5f60012",
				"disable_api_termination": true, "instance_initiated_shutdown_behavior": "stop",
				"iam_instance_profile": map[string]any{
					"arn": "arn:aws:iam::111122223333:instance-profile/batch-profile", "id": "AIPAHAIU424GKGUQWUY7", "role_name": "batch-role"},
				"network_interfaces": []any{map[string]any{"id": "eni-0943e8f5f1d862a4e", "private_ip": "10.0.2.10",
					"subnet_id": "subnet-0a1b2c3d4e5f60012", "vpc_id": "vpc-0a1b2c3d4e5f60001",
					"security_groups": []any{sgApp}, "device_index": 0}},
				"volumes": []any{map[string]any{"id": "vol-0972ed50faf688485", "device": "/dev/xvda", "delete_on_termination": true,
					"size_gb": 30, "encrypted": false, "volume_type": "gp3"}},
				"tags":           map[string]any{"Name": "batch-1"},
				"target_groups":  []any{},
				"load_balancers": []any{},
			},
		},
		{
			name: "terminated: no network, volumes or profile", id: oldInst,
			want: map[string]any{
				"instance_id": oldInst, "state": "terminated", "instance_type": "t2.micro", "image_id": "ami-056bf4ba4920ebf39",
				"launch_time": "2025-01-01T00:00:00Z", "availability_zone": "us-east-1b",
				"disable_api_termination": false, "instance_initiated_shutdown_behavior": "terminate",
				"network_interfaces": []any{}, "volumes": []any{},
				"tags": map[string]any{"Name": "old"}, "target_groups": []any{}, "load_balancers": []any{},
			},
			change: func(s *awsemu.Seed) {
				s.Accounts[1].Regions["us-east-1"].Instances[3].ShutdownBehavior = "terminate"
			},
		},
		{
			name: "a profile under a path, with shutdown terminating", id: web2,
			change: func(s *awsemu.Seed) {
				acct := &s.Accounts[1]
				acct.InstanceProfiles = append(acct.InstanceProfiles, awsemu.SeedInstanceProfile{
					Name: "deep-profile", Path: "/team/app/", Role: "batch-role"})
				in := &acct.Regions["us-east-1"].Instances[1]
				in.InstanceProfile = "deep-profile"
				in.ShutdownBehavior = "terminate"
				in.AutoScalingGroup, in.TargetGroups = "", nil
			},
			want: map[string]any{
				"instance_initiated_shutdown_behavior": "terminate",
				"iam_instance_profile":                 map[string]any{"role_name": "batch-role"},
				"target_groups":                        []any{},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnvSeed(t, tc.change)
			c := newCollector(t, "aws_ec2_describe", nil)
			facts, err := c.Collect(context.Background(), te.request(tc.id))
			if err != nil {
				t.Fatal(err)
			}
			got := viaJSON(t, facts).(map[string]any)
			if tc.change == nil || tc.id == oldInst {
				// Exactly these keys: FACTS.md's, no more.
				for k := range got {
					if _, ok := tc.want[k]; !ok {
						t.Errorf("unexpected fact %s = %v", k, got[k])
					}
				}
			}
			for k, want := range tc.want {
				g := got[k]
				if m, ok := want.(map[string]any); ok && tc.change != nil && tc.id != oldInst {
					// Partial expectations: only the keys given.
					gm, _ := g.(map[string]any)
					for mk, mv := range m {
						if !jsonEqual(t, gm[mk], mv) {
							t.Errorf("%s.%s = %v, want %v", k, mk, gm[mk], mv)
						}
					}
					continue
				}
				if !jsonEqual(t, g, want) {
					t.Errorf("%s = %#v\nwant %#v", k, g, want)
				}
			}
			checkFactsSchema(t, "aws_ec2_describe", facts)
			checkPermissions(t, c, te.actionsCalled())
			for _, call := range te.emu.Calls() {
				if !strings.HasPrefix(call.Operation, "Describe") && !strings.HasPrefix(call.Operation, "Get") && call.Operation != "AssumeRole" {
					t.Errorf("a describe collector called %s", call.Action())
				}
			}
		})
	}
}

// TestEC2DescribeProfileDeleted: a profile deleted while still associated
// leaves the instance with its ARN but no role to name.
func TestEC2DescribeProfileDeleted(t *testing.T) {
	te := newTestEnv(t)
	te.emu.Faults().Fail("iam:GetInstanceProfile", "*", "NoSuchEntity", "Instance Profile web-profile cannot be found.")
	facts, err := newCollector(t, "aws_ec2_describe", nil).Collect(context.Background(), te.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"arn": "arn:aws:iam::111122223333:instance-profile/web-profile", "id": "AIPAEMUWEBPROFILE001"}
	if !jsonEqual(t, facts["iam_instance_profile"], want) {
		t.Errorf("iam_instance_profile = %v, want %v", facts["iam_instance_profile"], want)
	}
	for _, r := range describedResources(facts, te.request(web1).Resource) {
		if r.Type == schema.ResourceIAMRole {
			t.Errorf("a role resource without a role name: %+v", r)
		}
	}
}

func TestEC2DescribeErrors(t *testing.T) {
	tests := []struct {
		name   string
		req    func(te *testEnv) *Request
		faults func(f *awsemu.Faults)
		ctx    func() (context.Context, context.CancelFunc)
		want   []string // substrings of the error
		code   string   // the AWS error code it wraps, if any
	}{
		{name: "no AWS access", req: func(te *testEnv) *Request { r := te.request(web1); r.AWS = nil; return r },
			want: []string{"aws_ec2_describe needs AWS access"}},
		{name: "not an instance", req: func(te *testEnv) *Request {
			r := te.request(web1)
			r.Resource = schema.Resource{Type: schema.ResourceIAMUser, ID: "alice"}
			return r
		}, want: []string{"EC2 instances", "aws_iam_user", "alice"}},
		{name: "unknown instance", req: func(te *testEnv) *Request { return te.request("i-0fffffffffffffff0") },
			want: []string{"instance i-0fffffffffffffff0 does not exist", "account 111122223333", "us-east-1"}},
		{name: "unknown region", req: func(te *testEnv) *Request { r := te.request(web1); r.Finding.Region = "eu-west-3"; return r },
			want: []string{"instance " + web1 + " does not exist", "eu-west-3"}},
		{name: "malformed id", req: func(te *testEnv) *Request { return te.request("i-nothex") },
			want: []string{"describing instance i-nothex"}, code: "InvalidInstanceID.Malformed"},
		{name: "not allowed to describe", faults: func(f *awsemu.Faults) {
			f.Fail("ec2:DescribeInstances", "*", "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, want: []string{"describing instance " + web1}, code: "UnauthorizedOperation"},
		{name: "not allowed to read the profile", faults: func(f *awsemu.Faults) {
			f.Fail("iam:GetInstanceProfile", "*", "AccessDenied", "User is not authorized to perform: iam:GetInstanceProfile")
		}, want: []string{"reading instance profile web-profile of " + web1}, code: "AccessDenied"},
		{name: "target health fails", faults: func(f *awsemu.Faults) {
			f.Fail("elasticloadbalancing:DescribeTargetHealth", "*", "AccessDenied", "denied")
		}, want: []string{"reading the registrations of " + web1 + " in target group " + webTG}, code: "AccessDenied"},
		{name: "Auto Scaling keeps failing", faults: func(f *awsemu.Faults) { f.ServerError("autoscaling:DescribeAutoScalingInstances", -1) },
			want: []string{"reading the Auto Scaling group of " + web1}},
		{name: "deadline", faults: func(f *awsemu.Faults) { f.Latency("elasticloadbalancing:DescribeLoadBalancers", time.Minute) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: []string{"listing classic load balancers"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			if tc.faults != nil {
				tc.faults(te.emu.Faults())
			}
			req := te.request(web1)
			if tc.req != nil {
				req = tc.req(te)
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			facts, err := newCollector(t, "aws_ec2_describe", nil).Collect(ctx, req)
			if err == nil {
				t.Fatalf("no error; facts %v", facts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.code != "" && ec2ErrorCode(err) != tc.code {
				t.Errorf("error code %q, want %q (%v)", ec2ErrorCode(err), tc.code, err)
			}
			if tc.ctx != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is not the deadline", err)
			}
		})
	}
}

// TestEC2DescribeThrottled: a call of each service throttled still succeeds,
// through the SDK's own retries, with the same facts.
func TestEC2DescribeThrottled(t *testing.T) {
	calm := newTestEnv(t)
	want, err := newCollector(t, "aws_ec2_describe", nil).Collect(context.Background(), calm.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	te := newTestEnv(t)
	for _, op := range []string{"ec2:*", "iam:*", "autoscaling:*", "elasticloadbalancing:*"} {
		te.emu.Faults().Throttle(op, 1)
	}
	got, err := newCollector(t, "aws_ec2_describe", nil).Collect(context.Background(), te.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, got, want) {
		t.Errorf("throttled facts %v\nwant %v", got, want)
	}
	throttled := 0
	for _, c := range te.emu.Calls() {
		if c.Status == http.StatusServiceUnavailable || c.ErrorCode == "Throttling" {
			throttled++
		}
	}
	if throttled < 4 {
		t.Errorf("%d calls throttled, want one per service", throttled)
	}
}

func TestDescribedResources(t *testing.T) {
	te := newTestEnv(t)
	facts, err := newCollector(t, "aws_ec2_describe", nil).Collect(context.Background(), te.request(web1))
	if err != nil {
		t.Fatal(err)
	}
	primary := te.request(web1).Resource
	want := []schema.Resource{
		{Type: schema.ResourceEBSVolume, ID: web1Root, Tags: map[string]string{}, Details: map[string]any{
			"volume_id": web1Root, "instance_id": web1, "device_name": "/dev/xvda", "size_gb": 8, "encrypted": false,
			"volume_type": "gp3", "delete_on_termination": true}},
		{Type: schema.ResourceEBSVolume, ID: web1Data, Tags: map[string]string{}, Details: map[string]any{
			"volume_id": web1Data, "instance_id": web1, "device_name": "/dev/sdf", "size_gb": 100, "encrypted": true,
			"volume_type": "gp3", "delete_on_termination": false}},
		{Type: schema.ResourceIAMRole, ID: "web-role", Tags: map[string]string{}, Details: map[string]any{
			"role_name": "web-role", "instance_profile_arn": "arn:aws:iam::111122223333:instance-profile/web-profile"}},
	}
	// As collected, and as read back from a -facts file.
	for name, f := range map[string]map[string]any{"collected": facts, "via JSON": viaJSON(t, facts).(map[string]any)} {
		if got := describedResources(f, primary); !jsonEqual(t, got, want) {
			t.Errorf("%s: resources %v\nwant %v", name, got, want)
		}
	}
	for name, f := range map[string]map[string]any{
		"empty":        {},
		"error":        {"error": "timed out"},
		"wrong shapes": {"volumes": "vol-1", "iam_instance_profile": []any{"x"}},
		"no ids":       {"volumes": []any{map[string]any{"device": "/dev/xvda"}, "vol-1", nil}, "iam_instance_profile": map[string]any{"arn": "x"}},
	} {
		if got := describedResources(f, primary); len(got) != 0 {
			t.Errorf("%s: resources %v, want none", name, got)
		}
	}
}

// TestEC2DescribeAgreesWithActions plans each EC2 action on collected
// facts, as the engine does, and checks the plan against what the action
// reads live: no drift before, and after the action is applied, facts
// collected again describe the plan's after-state.
func TestEC2DescribeAgreesWithActions(t *testing.T) {
	types := []struct {
		typ   string
		attrs map[string]cty.Value
	}{
		{"aws_ec2_termination_protection", nil},
		{"aws_ec2_tag", nil},
		{"aws_ec2_isolate", map[string]cty.Value{"security_group_id": cty.StringVal(sgIsol)}},
		{"aws_ec2_instance_profile", nil},
		{"aws_ec2_snapshot", nil},
		{"aws_ec2_stop", nil},
		{"aws_autoscaling_detach", nil},
		{"aws_elb_deregister", nil},
	}
	for _, id := range []string{web1, web2, batch1} {
		for _, tc := range types {
			t.Run(id+"/"+tc.typ, func(t *testing.T) {
				te := newTestEnv(t)
				ctx := context.Background()
				describe := newCollector(t, "aws_ec2_describe", nil)
				facts, err := describe.Collect(ctx, te.request(id))
				if err != nil {
					t.Fatal(err)
				}
				ex := newAction(t, tc.typ, tc.attrs)
				env := &actions.Env{AWS: te.aws, HTTP: te.srv.Client(), Now: func() time.Time { return testNow }}
				req := actionRequest(id, facts)

				plan := ex.Describe(req)
				if len(plan.BeforeUnknown) > 0 {
					t.Errorf("with describe facts, before_unknown %v", plan.BeforeUnknown)
				}
				live, err := ex.Read(ctx, env, req)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range plan.Before {
					if !jsonEqual(t, live[k], v) {
						t.Errorf("drift on %s: live %v, planned before %v", k, live[k], v)
					}
				}

				if _, _, err := ex.Apply(ctx, env, req, viaJSON(t, live).(map[string]any)); err != nil {
					t.Fatal(err)
				}
				after, err := describe.Collect(ctx, te.request(id))
				if err != nil {
					t.Fatal(err)
				}
				replan := ex.Describe(actionRequest(id, after))
				for k, v := range plan.After {
					if slices.Contains(plan.AfterUnknown, k) {
						continue
					}
					if !jsonEqual(t, replan.Before[k], v) {
						t.Errorf("after apply, facts give %s = %v; the plan's after is %v", k, replan.Before[k], v)
					}
				}
			})
		}
	}
}

// actionRequest is an action's request on instance id with describe facts,
// as the engine builds it.
func actionRequest(id string, facts map[string]any) *actions.Request {
	return &actions.Request{
		IncidentID: incidentID,
		Target:     actions.Target{Type: schema.ResourceInstance, ID: id, Account: prodAccount, Region: region},
		Resource:   schema.Resource{Type: schema.ResourceInstance, ID: id, Tags: map[string]string{}, Details: map[string]any{}},
		Finding:    &schema.Finding{ID: "f-1", Source: "guardduty", Type: "Backdoor:EC2/C&CActivity.B!DNS", Severity: "high", Account: prodAccount, Region: region},
		Facts:      map[string]map[string]any{"aws_ec2_describe": facts},
	}
}

// newAction builds a configured action of a registered type.
func newAction(t testing.TB, typ string, attrs map[string]cty.Value) actions.Executor {
	t.Helper()
	def, ok := actions.Lookup(typ)
	if !ok {
		t.Fatalf("action type %s is not registered", typ)
	}
	vals := map[string]cty.Value{}
	ty := hcldec.ImpliedType(def.Attributes)
	for name := range def.Attributes {
		if v, ok := attrs[name]; ok {
			vals[name] = v
		} else {
			vals[name] = cty.NullVal(ty.AttributeType(name))
		}
	}
	cfg := cty.EmptyObjectVal
	if len(vals) > 0 {
		cfg = cty.ObjectVal(vals)
	}
	a, err := def.New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	ex, ok := a.(actions.Executor)
	if !ok {
		t.Fatalf("%s does not implement Executor", typ)
	}
	return ex
}
