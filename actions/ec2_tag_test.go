package actions

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// ---- helpers shared by the EC2 action tests --------------------------------

// ec2Fleet names the resources of internal/awsemu/testdata/fleet.json the
// EC2 action tests use.
var ec2Fleet = struct {
	web1, web2, batch1, terminated, unknown string
	web1ENI, web2ENI, web2AppENI            string
	web1Root, web1Data, web2Root            string
	sgWeb, sgApp, sgIsolation, sgUntrack    string
	sgOtherRegion                           string
	webProfile, quarantineProfile           string
}{
	web1: "i-0a1b2c3d4e5f60101", web2: "i-0a1b2c3d4e5f60102", batch1: "i-0a1b2c3d4e5f60103",
	terminated: "i-0a1b2c3d4e5f60104", unknown: "i-0fffffffffffffff0",
	web1ENI: "eni-0a1b2c3d4e5f60201", web2ENI: "eni-0a1b2c3d4e5f60202", web2AppENI: "eni-0a1b2c3d4e5f60203",
	web1Root: "vol-0a1b2c3d4e5f60301", web1Data: "vol-0a1b2c3d4e5f60302", web2Root: "vol-0a1b2c3d4e5f60303",
	sgWeb: "sg-0a1b2c3d4e5f60021", sgApp: "sg-0a1b2c3d4e5f60022",
	sgIsolation: "sg-0a1b2c3d4e5f60023", sgUntrack: "sg-0a1b2c3d4e5f60024",
	sgOtherRegion:     "sg-0b1b2c3d4e5f60021",
	webProfile:        "arn:aws:iam::111122223333:instance-profile/web-profile",
	quarantineProfile: "arn:aws:iam::111122223333:instance-profile/quarantine-profile",
}

// prodRegion is the emulator's current state of the prod account in the
// test region.
func (te *testEnv) prodRegion() *awsemu.Region {
	return te.emu.Snapshot().Accounts[prodAccount].Regions[region]
}

// ec2Mutations lists the calls from index from on that may change state
// (every attempt, failed or not), as "service:Operation resource,…".
func ec2Mutations(te *testEnv, from int) []string {
	var out []string
	for _, c := range te.emu.Calls()[from:] {
		if c.Action() == "sts:AssumeRole" || strings.HasPrefix(c.Operation, "Describe") ||
			strings.HasPrefix(c.Operation, "List") || strings.HasPrefix(c.Operation, "Get") {
			continue
		}
		out = append(out, c.Action()+" "+strings.Join(c.ResourceIDs, ","))
	}
	return out
}

// ec2CheckPermissions fails the test for any call the emulator received
// that ex's Permissions do not list. sts:AssumeRole is the client
// factory's, made as cordon's base identity.
func ec2CheckPermissions(t *testing.T, te *testEnv, ex Executor) {
	t.Helper()
	perms := ex.Permissions()
	seen := map[string]bool{}
	for _, c := range te.emu.Calls() {
		a := c.Action()
		if a == "sts:AssumeRole" || seen[a] {
			continue
		}
		seen[a] = true
		if !slices.Contains(perms, a) {
			t.Errorf("called %s, which Permissions() %v does not list", a, perms)
		}
	}
}

// ec2WantCode fails unless err carries an AWS API error with code.
func ec2WantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v; want AWS error %s in the chain", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %s (%v); want %s", ae.ErrorCode(), err, code)
	}
}

// throttledCalls counts the calls answered with a throttling error.
func throttledCalls(te *testEnv) int {
	n := 0
	for _, c := range te.emu.Calls() {
		switch c.ErrorCode {
		case "RequestLimitExceeded", "Throttling":
			n++
		}
	}
	return n
}

// viaJSON passes a state through JSON, as the plan file and the state
// store do: what Apply and Revert get back has []any and float64 in it.
func viaJSON(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("state %v is not JSON: %v", m, err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonEqual compares two state values as the engine does: JSON equality,
// with lists compared as sets.
func jsonEqual(a, b any) bool {
	return reflect.DeepEqual(setNormal(viaJSONValue(a)), setNormal(viaJSONValue(b)))
}

func viaJSONValue(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func setNormal(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		keys := make([]string, len(x))
		for i, e := range x {
			out[i] = setNormal(e)
			b, _ := json.Marshal(out[i])
			keys[i] = string(b)
		}
		idx := make([]int, len(x))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(i, j int) bool { return keys[idx[i]] < keys[idx[j]] })
		sorted := make([]any, len(x))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		return sorted
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = setNormal(e)
		}
		return out
	}
	return v
}

// applyTwice reads, applies, reads and applies again. The first apply must
// change something and leave the live state equal to its after-state; the
// second must change nothing and make no mutating call. Keys in volatile
// (a snapshot's progress) are not compared.
func applyTwice(t *testing.T, te *testEnv, ex Executor, req *Request, volatile ...string) (before, after map[string]any) {
	t.Helper()
	ctx := context.Background()
	before, err := ex.Read(ctx, te.env, req)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	after, changed, err := ex.Apply(ctx, te.env, req, viaJSON(t, before))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !changed {
		t.Fatalf("Apply changed nothing; before %v", before)
	}
	live, err := ex.Read(ctx, te.env, req)
	if err != nil {
		t.Fatalf("Read after Apply: %v", err)
	}
	for k, v := range after {
		if lv, ok := live[k]; ok && !slices.Contains(volatile, k) && !jsonEqual(lv, v) {
			t.Errorf("after Apply, live %s = %v; Apply returned %v", k, lv, v)
		}
	}
	n := len(te.emu.Calls())
	again, changed, err := ex.Apply(ctx, te.env, req, viaJSON(t, live))
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if changed {
		t.Errorf("second Apply reported a change")
	}
	if m := ec2Mutations(te, n); len(m) > 0 {
		t.Errorf("second Apply made mutating calls %v", m)
	}
	// What the first Apply alone knows (when it revoked sessions, say)
	// may be missing from the second; the state itself may not.
	for k, v := range again {
		if !slices.Contains(volatile, k) && !jsonEqual(after[k], v) {
			t.Errorf("second Apply returned %s = %v; the first %v", k, v, after[k])
		}
	}
	for k := range live {
		if _, ok := again[k]; !ok {
			if _, inFirst := after[k]; inFirst {
				t.Errorf("second Apply did not return %s", k)
			}
		}
	}
	return before, after
}

// ---- aws_ec2_tag ------------------------------------------------------------

func iamRequest(typ, name string) *Request {
	req := instanceRequest(name)
	req.Target.Type, req.Resource.Type = typ, typ
	return req
}

func TestEC2TagLifecycle(t *testing.T) {
	custom := map[string]cty.Value{"tags": cty.MapVal(map[string]cty.Value{
		"cordon:incident": cty.StringVal("{incident}"),
		"cordon:case":     cty.StringVal("case-{incident}"),
		"team":            cty.StringVal("incident-response"),
		"env":             cty.StringVal("prod"),
	})}
	tests := []struct {
		name  string
		req   *Request
		attrs map[string]cty.Value
		tagsO func(*awsemu.Region, *awsemu.Account) map[string]string
		// wantBefore is Read's tags before Apply: the configured keys
		// the target already has.
		wantBefore map[string]any
		wantAfter  map[string]string // the target's whole tag set after Apply
	}{
		{
			name: "instance, default tag", req: instanceRequest(ec2Fleet.web1),
			tagsO:      func(r *awsemu.Region, _ *awsemu.Account) map[string]string { return r.Instances[ec2Fleet.web1].Tags },
			wantBefore: map[string]any{},
			wantAfter:  map[string]string{"Name": "web-1", "env": "prod", "cordon:incident": "inc-0123456789abcdef"},
		},
		{
			name: "instance, configured tags over an existing one", req: instanceRequest(ec2Fleet.web2), attrs: custom,
			tagsO:      func(r *awsemu.Region, _ *awsemu.Account) map[string]string { return r.Instances[ec2Fleet.web2].Tags },
			wantBefore: map[string]any{"env": "prod"},
			wantAfter: map[string]string{"Name": "web-2", "env": "prod", "cordon:incident": "inc-0123456789abcdef",
				"cordon:case": "case-inc-0123456789abcdef", "team": "incident-response"},
		},
		{
			name: "volume", req: func() *Request {
				r := instanceRequest(ec2Fleet.web1Data)
				r.Target.Type, r.Resource.Type = schema.ResourceEBSVolume, schema.ResourceEBSVolume
				return r
			}(),
			tagsO:      func(r *awsemu.Region, _ *awsemu.Account) map[string]string { return r.Volumes[ec2Fleet.web1Data].Tags },
			wantBefore: map[string]any{},
			wantAfter:  map[string]string{"data": "customer", "cordon:incident": "inc-0123456789abcdef"},
		},
		{
			name: "IAM user, a tag with another value", req: iamRequest(schema.ResourceIAMUser, "alice"), attrs: custom,
			tagsO:      func(_ *awsemu.Region, a *awsemu.Account) map[string]string { return a.Users["alice"].Tags },
			wantBefore: map[string]any{"team": "platform"},
			wantAfter: map[string]string{"team": "incident-response", "owner": "alice@example.com", "cordon:incident": "inc-0123456789abcdef",
				"cordon:case": "case-inc-0123456789abcdef", "env": "prod"},
		},
		{
			name: "IAM role", req: iamRequest(schema.ResourceIAMRole, "web-role"),
			tagsO:      func(_ *awsemu.Region, a *awsemu.Account) map[string]string { return a.Roles["web-role"].Tags },
			wantBefore: map[string]any{},
			wantAfter:  map[string]string{"cordon:incident": "inc-0123456789abcdef"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ex := newExecutor(t, "aws_ec2_tag", tc.attrs)
			tagsNow := func() map[string]string {
				s := te.emu.Snapshot().Accounts[prodAccount]
				return maps.Clone(tc.tagsO(s.Regions[region], s))
			}
			initial := tagsNow()

			before, after := applyTwice(t, te, ex, tc.req)
			if !jsonEqual(before["tags"], tc.wantBefore) {
				t.Errorf("Read before: tags %v; want %v", before["tags"], tc.wantBefore)
			}
			if got := tagsNow(); !maps.Equal(got, tc.wantAfter) {
				t.Errorf("tags after Apply %v; want %v", got, tc.wantAfter)
			}

			restored, err := ex.(Reverter).Revert(context.Background(), te.env, tc.req, viaJSON(t, before), viaJSON(t, after))
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if got := tagsNow(); !maps.Equal(got, initial) {
				t.Errorf("tags after Revert %v; want the original %v", got, initial)
			}
			if !jsonEqual(restored["tags"], before["tags"]) {
				t.Errorf("Revert returned %v; want the before-state %v", restored["tags"], before["tags"])
			}
			ec2CheckPermissions(t, te, ex)
		})
	}
}

// A tag changed by someone else after Apply is not removed by Revert: EC2
// deletes a tag only while it has the value given.
func TestEC2TagRevertKeepsOthersValue(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_tag", nil)
	req := instanceRequest(ec2Fleet.web1)
	before, after := applyTwice(t, te, ex, req)
	other := newExecutor(t, "aws_ec2_tag", map[string]cty.Value{"tags": cty.MapVal(map[string]cty.Value{IncidentTagKey: cty.StringVal("inc-other")})})
	if _, _, err := other.Apply(context.Background(), te.env, instanceRequest(ec2Fleet.web1), map[string]any{"tags": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.(Reverter).Revert(context.Background(), te.env, req, before, after); err != nil {
		t.Fatal(err)
	}
	if got := te.prodRegion().Instances[ec2Fleet.web1].Tags[IncidentTagKey]; got != "inc-other" {
		t.Errorf("%s = %q after Revert; want the other incident's value kept", IncidentTagKey, got)
	}
}

func TestEC2TagErrors(t *testing.T) {
	t.Parallel() // the throttled cases wait out the SDK's backoff
	ctx := context.Background()
	tests := []struct {
		name  string
		req   *Request
		fault func(*awsemu.Faults)
		code  string // AWS error code in the chain; "" for success
	}{
		{"unknown instance", instanceRequest(ec2Fleet.unknown), nil, "InvalidInstanceID.NotFound"},
		{"unknown user", iamRequest(schema.ResourceIAMUser, "nobody"), nil, "NoSuchEntity"},
		{"unknown role", iamRequest(schema.ResourceIAMRole, "nobody"), nil, "NoSuchEntity"},
		{"not authorized", instanceRequest(ec2Fleet.web1), func(f *awsemu.Faults) {
			f.Fail("ec2:CreateTags", ec2Fleet.web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
		}, "UnauthorizedOperation"},
		{"IAM access denied", iamRequest(schema.ResourceIAMUser, "mallory"), func(f *awsemu.Faults) {
			f.Fail("iam:TagUser", "*", "AccessDenied", "User is not authorized to perform iam:TagUser")
		}, "AccessDenied"},
		{"EC2 throttled, then fine", instanceRequest(ec2Fleet.web1), func(f *awsemu.Faults) {
			f.Throttle("ec2:CreateTags", 2)
			f.Throttle("ec2:DescribeTags", 1)
		}, ""},
		{"IAM throttled, then fine", iamRequest(schema.ResourceIAMRole, "batch-role"), func(f *awsemu.Faults) { f.Throttle("iam:TagRole", 2) }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the throttled cases wait out the SDK's backoff
			te := newTestEnv(t)
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			ex := newExecutor(t, "aws_ec2_tag", nil)
			live, err := ex.Read(ctx, te.env, tc.req)
			if err == nil {
				_, _, err = ex.Apply(ctx, te.env, tc.req, live)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Read/Apply: %v", err)
				}
				if throttledCalls(te) == 0 {
					t.Errorf("no call was throttled")
				}
				return
			}
			ec2WantCode(t, err, tc.code)
			if !strings.Contains(err.Error(), tc.req.Target.ID) {
				t.Errorf("error %q does not name %s", err, tc.req.Target.ID)
			}
		})
	}
}

func TestEC2TagConfigErrors(t *testing.T) {
	def, _ := Lookup("aws_ec2_tag")
	long := strings.Repeat("x", 129)
	tests := []struct {
		name string
		tags map[string]cty.Value
		want string
	}{
		{"reserved prefix", map[string]cty.Value{"aws:owner": cty.StringVal("x")}, `reserved`},
		{"key too long", map[string]cty.Value{long: cty.StringVal("x")}, "longer than 128"},
		{"value too long", map[string]cty.Value{"k": cty.StringVal(strings.Repeat("v", 257))}, "longer than 256"},
		{"value too long with the incident id", map[string]cty.Value{"k": cty.StringVal(strings.Repeat("v", 240) + "{incident}")}, "longer than 256"},
		{"empty key", map[string]cty.Value{"": cty.StringVal("x")}, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := def.New(cty.ObjectVal(map[string]cty.Value{"tags": cty.MapVal(tc.tags)}))
			var ae *AttributeError
			if !errors.As(err, &ae) || ae.Attribute != "tags" || !strings.Contains(ae.Detail, tc.want) {
				t.Fatalf("New: %v; want an AttributeError on tags saying %q", err, tc.want)
			}
		})
	}
}

// ---- every EC2 action type ---------------------------------------------------

// The engine compares Read with the plan Describe made: before a change,
// live must equal the plan's before (else it is drift), and after Apply
// live must equal the plan's after (else the next apply would redo it).
// With describe facts that are right, both must hold exactly.
func TestEC2DescribeAgreesWithRead(t *testing.T) {
	facts := map[string]any{
		"instance_id": ec2Fleet.web2, "state": "running",
		"disable_api_termination": false, "instance_initiated_shutdown_behavior": "stop",
		"iam_instance_profile": map[string]any{"arn": ec2Fleet.webProfile, "id": "AIPAEMUWEBPROFILE001", "role_name": "web-role"},
		"network_interfaces": []any{
			map[string]any{"id": ec2Fleet.web2ENI, "security_groups": []any{ec2Fleet.sgWeb}, "device_index": 0},
			map[string]any{"id": ec2Fleet.web2AppENI, "security_groups": []any{ec2Fleet.sgApp}, "device_index": 1},
		},
		"volumes": []any{map[string]any{"id": ec2Fleet.web2Root, "device": "/dev/xvda", "delete_on_termination": true}},
		"tags":    map[string]any{"Name": "web-2", "env": "prod"},
	}
	tests := []struct {
		typ   string
		attrs map[string]cty.Value
	}{
		{"aws_ec2_termination_protection", nil},
		{"aws_ec2_tag", nil},
		{"aws_ec2_isolate", map[string]cty.Value{"security_group_id": cty.StringVal(ec2Fleet.sgIsolation)}},
		{"aws_ec2_instance_profile", map[string]cty.Value{"revoke_sessions": cty.True}},
		{"aws_ec2_snapshot", nil},
		{"aws_ec2_stop", nil},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			te := newTestEnv(t)
			ctx := context.Background()
			ex := newExecutor(t, tc.typ, tc.attrs)
			def, _ := Lookup(tc.typ)
			if _, ok := ex.(Reverter); ok != def.Reversible {
				t.Errorf("implements Reverter: %t; the definition says reversible = %t", ok, def.Reversible)
			}
			req := instanceRequest(ec2Fleet.web2)
			req.Facts["aws_ec2_describe"] = viaJSON(t, facts)
			plan := ex.Describe(req)
			plan.Before, plan.After = viaJSON(t, plan.Before), viaJSON(t, plan.After)
			if len(plan.BeforeUnknown) > 0 {
				t.Errorf("with describe facts, before_unknown %v", plan.BeforeUnknown)
			}

			live, err := ex.Read(ctx, te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range plan.Before {
				if !jsonEqual(live[k], v) {
					t.Errorf("drift on %s: live %v, plan before %v", k, live[k], v)
				}
			}
			done := len(plan.AfterUnknown) > 0 // the engine must apply to learn them
			for k, v := range plan.After {
				done = done || !jsonEqual(live[k], v)
			}
			if !done {
				t.Errorf("live %v already equals the plan's after %v: the engine would skip the action", live, plan.After)
			}

			if _, _, err := ex.Apply(ctx, te.env, req, viaJSON(t, live)); err != nil {
				t.Fatal(err)
			}
			live, err = ex.Read(ctx, te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range plan.After {
				if !jsonEqual(live[k], v) {
					t.Errorf("after Apply, live %s = %v; the plan's after %v", k, live[k], v)
				}
			}
		})
	}
}
