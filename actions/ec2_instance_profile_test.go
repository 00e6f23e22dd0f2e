package actions

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
)

// builder is the fleet's instance without a profile, in us-west-2.
const builder = "i-0b1b2c3d4e5f60101"

const revokePolicy = "cordon-revoke-sessions-inc-0123456789abcdef"

func profileOf(te *testEnv, region, id string) string {
	in := te.emu.Snapshot().Accounts[prodAccount].Regions[region].Instances[id]
	if in.Profile == nil {
		return ""
	}
	return in.Profile.ProfileARN
}

func rolePolicies(te *testEnv, role string) map[string]string {
	return maps.Clone(te.emu.Snapshot().Accounts[prodAccount].Roles[role].Policies)
}

func profileAttrs(replacement string, revoke bool) map[string]cty.Value {
	attrs := map[string]cty.Value{}
	if replacement != "" {
		attrs["replacement_profile_arn"] = cty.StringVal(replacement)
	}
	if revoke {
		attrs["revoke_sessions"] = cty.True
	}
	return attrs
}

func TestEC2InstanceProfileRead(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_instance_profile", nil)
	tests := []struct {
		id   string
		want any
		code string
	}{
		{id: ec2Fleet.web1, want: ec2Fleet.webProfile},
		{id: ec2Fleet.batch1, want: "arn:aws:iam::111122223333:instance-profile/batch-profile"},
		{id: ec2Fleet.terminated, want: nil},
		{id: ec2Fleet.unknown, code: "InvalidInstanceID.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, err := ex.Read(context.Background(), te.env, instanceRequest(tc.id))
			if tc.code != "" {
				ec2WantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := got["iam_instance_profile_arn"]; !ok || v != tc.want {
				t.Errorf("Read = %v; want iam_instance_profile_arn %v", got, tc.want)
			}
		})
	}
}

func TestEC2InstanceProfileLifecycle(t *testing.T) {
	tests := []struct {
		name        string
		region, id  string
		replacement string
		revoke      bool
		role        string // the role of the profile before, if any
		// wantApply and wantRevert are the mutating operations, in order.
		wantApply, wantRevert []string
	}{
		{
			name: "remove", region: region, id: ec2Fleet.web1, role: "web-role",
			wantApply:  []string{"ec2:DisassociateIamInstanceProfile"},
			wantRevert: []string{"ec2:AssociateIamInstanceProfile"},
		},
		{
			name: "replace", region: region, id: ec2Fleet.web1, replacement: ec2Fleet.quarantineProfile, role: "web-role",
			wantApply:  []string{"ec2:ReplaceIamInstanceProfileAssociation"},
			wantRevert: []string{"ec2:ReplaceIamInstanceProfileAssociation"},
		},
		{
			name: "remove and revoke sessions", region: region, id: ec2Fleet.web1, revoke: true, role: "web-role",
			wantApply:  []string{"iam:PutRolePolicy", "ec2:DisassociateIamInstanceProfile"},
			wantRevert: []string{"ec2:AssociateIamInstanceProfile", "iam:DeleteRolePolicy"},
		},
		{
			name: "replace and revoke sessions, stopped instance", region: region, id: ec2Fleet.batch1,
			replacement: ec2Fleet.quarantineProfile, revoke: true, role: "batch-role",
			wantApply:  []string{"iam:PutRolePolicy", "ec2:ReplaceIamInstanceProfileAssociation"},
			wantRevert: []string{"ec2:ReplaceIamInstanceProfileAssociation", "iam:DeleteRolePolicy"},
		},
		{
			// No profile before: the replacement is associated, and there
			// is no role to revoke.
			name: "associate where there was none", region: "us-west-2", id: builder,
			replacement: ec2Fleet.quarantineProfile, revoke: true,
			wantApply:  []string{"ec2:AssociateIamInstanceProfile"},
			wantRevert: []string{"ec2:DisassociateIamInstanceProfile"},
		},
	}
	ops := func(te *testEnv, from int) []string {
		var out []string
		for _, m := range ec2Mutations(te, from) {
			op, _, _ := strings.Cut(m, " ")
			out = append(out, op)
		}
		return out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ex := newExecutor(t, "aws_ec2_instance_profile", profileAttrs(tc.replacement, tc.revoke))
			req := instanceRequest(tc.id)
			req.Target.Region = tc.region
			initial := profileOf(te, tc.region, tc.id)
			role := tc.role
			var rolesBefore map[string]string
			if role != "" {
				rolesBefore = rolePolicies(te, role)
			}

			n := len(te.emu.Calls())
			before, after := applyTwice(t, te, ex, req)
			if got := ops(te, n); !slices.Equal(got, tc.wantApply) {
				t.Errorf("Apply called %v; want %v", got, tc.wantApply)
			}
			if got := profileOf(te, tc.region, tc.id); got != tc.replacement {
				t.Errorf("profile after Apply %q; want %q", got, tc.replacement)
			}
			if want := any(nil); tc.replacement != "" {
				want = tc.replacement
				if after["iam_instance_profile_arn"] != want {
					t.Errorf("Apply returned %v", after)
				}
			} else if v, ok := after["iam_instance_profile_arn"]; !ok || v != nil {
				t.Errorf("Apply returned %v; want a null profile", after)
			}
			revoked := tc.revoke && role != ""
			if revoked {
				doc, ok := rolePolicies(te, role)[revokePolicy]
				if !ok {
					t.Fatalf("no policy %s on role %s after Apply", revokePolicy, role)
				}
				var pol map[string]any
				if err := json.Unmarshal([]byte(doc), &pol); err != nil {
					t.Fatal(err)
				}
				cond := pol["Statement"].([]any)[0].(map[string]any)["Condition"]
				if !jsonEqual(cond, map[string]any{"DateLessThan": map[string]any{"aws:TokenIssueTime": "2025-03-01T12:30:00Z"}}) {
					t.Errorf("revoke policy condition %v", cond)
				}
				wantAfter := map[string]any{"revoked_role_name": role, "revoke_policy_name": revokePolicy, "role_sessions_revoked_before": "2025-03-01T12:30:00Z"}
				for k, v := range wantAfter {
					if after[k] != v {
						t.Errorf("Apply returned %s = %v; want %v", k, after[k], v)
					}
				}
			} else if _, ok := after["revoked_role_name"]; ok {
				t.Errorf("Apply returned %v; revoked nothing", after)
			}

			n = len(te.emu.Calls())
			restored, err := ex.(Reverter).Revert(context.Background(), te.env, req, viaJSON(t, before), viaJSON(t, after))
			if err != nil {
				t.Fatalf("Revert: %v", err)
			}
			if got := ops(te, n); !slices.Equal(got, tc.wantRevert) {
				t.Errorf("Revert called %v; want %v", got, tc.wantRevert)
			}
			if got := profileOf(te, tc.region, tc.id); got != initial {
				t.Errorf("profile after Revert %q; want %q", got, initial)
			}
			if !jsonEqual(restored, before) {
				t.Errorf("Revert returned %v; want %v", restored, before)
			}
			if role != "" {
				if got := rolePolicies(te, role); !maps.Equal(got, rolesBefore) {
					t.Errorf("policies of %s after Revert %v; want %v", role, slices.Collect(maps.Keys(got)), slices.Collect(maps.Keys(rolesBefore)))
				}
			}
			ec2CheckPermissions(t, te, ex)
		})
	}
}

// The revoke policy does what it says: credentials of the instance's role
// issued before the apply are refused afterwards, and work again once the
// action is reverted.
func TestEC2InstanceProfileRevokesStolenCredentials(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()

	// An attacker took the instance's role credentials half an hour ago.
	te.emu.SetClock(func() time.Time { return testNow.Add(-30 * time.Minute) })
	out, err := te.env.AWS.STS(prodAccount, region).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/web-role"), RoleSessionName: aws.String(ec2Fleet.web1),
	})
	if err != nil {
		t.Fatal(err)
	}
	te.emu.SetClock(func() time.Time { return testNow })
	stolen, err := awsclient.New(ctx, awsclient.Options{
		Region: region, Endpoint: te.srv.URL, MaxAttempts: 1, Version: "test",
		Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId),
			aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)),
	})
	if err != nil {
		t.Fatal(err)
	}
	use := func() error {
		_, err := stolen.EC2(prodAccount, region).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		return err
	}
	if err := use(); err != nil {
		t.Fatalf("the stolen credentials do not work to begin with: %v", err)
	}

	ex := newExecutor(t, "aws_ec2_instance_profile", profileAttrs("", true))
	req := instanceRequest(ec2Fleet.web1)
	before, err := ex.Read(ctx, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := ex.Apply(ctx, te.env, req, before)
	if err != nil {
		t.Fatal(err)
	}
	ec2WantCode(t, use(), "UnauthorizedOperation")

	if _, err := ex.(Reverter).Revert(ctx, te.env, req, before, after); err != nil {
		t.Fatal(err)
	}
	if err := use(); err != nil {
		t.Errorf("the credentials are still refused after Revert: %v", err)
	}
}

func TestEC2InstanceProfileErrors(t *testing.T) {
	t.Parallel() // the throttled cases wait out the SDK's backoff
	tests := []struct {
		name        string
		id          string
		replacement string
		revoke      bool
		fault       func(*awsemu.Faults)
		code        string
		msg         string
		// profile is the instance's profile afterwards; policy whether
		// the revoke policy is on web-role.
		profile string
		policy  bool
	}{
		{name: "unknown instance", id: ec2Fleet.unknown, code: "InvalidInstanceID.NotFound"},
		{
			// Revoking comes first, so a failure leaves the profile
			// attached, and a retry still knows which role to revoke.
			name: "revoke refused", id: ec2Fleet.web1, revoke: true,
			fault: func(f *awsemu.Faults) {
				f.Fail("iam:PutRolePolicy", "*", "AccessDenied", "User is not authorized to perform iam:PutRolePolicy")
			},
			code: "AccessDenied", msg: "revoking the sessions of role web-role", profile: ec2Fleet.webProfile,
		},
		{
			name: "removal refused after revoking", id: ec2Fleet.web1, revoke: true,
			fault: func(f *awsemu.Faults) {
				f.Fail("ec2:DisassociateIamInstanceProfile", "*", "UnauthorizedOperation", "You are not authorized to perform this operation.")
			},
			code: "UnauthorizedOperation", msg: "stays in place", profile: ec2Fleet.webProfile, policy: true,
		},
		{
			name: "replacement does not exist", id: ec2Fleet.web1, replacement: "arn:aws:iam::111122223333:instance-profile/nope",
			code: "InvalidParameterValue", msg: "replacing instance profile", profile: ec2Fleet.webProfile,
		},
		{
			name: "throttled, then fine", id: ec2Fleet.web1, revoke: true,
			fault: func(f *awsemu.Faults) {
				f.Throttle("ec2:DisassociateIamInstanceProfile", 2)
				f.Throttle("iam:PutRolePolicy", 1)
			},
			policy: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newTestEnv(t)
			if tc.fault != nil {
				tc.fault(te.emu.Faults())
			}
			ex := newExecutor(t, "aws_ec2_instance_profile", profileAttrs(tc.replacement, tc.revoke))
			req := instanceRequest(tc.id)
			live, err := ex.Read(context.Background(), te.env, req)
			if err == nil {
				_, _, err = ex.Apply(context.Background(), te.env, req, live)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if throttledCalls(te) == 0 {
					t.Error("no call was throttled")
				}
			} else {
				ec2WantCode(t, err, tc.code)
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
			}
			if tc.id == ec2Fleet.unknown {
				return
			}
			if got := profileOf(te, region, tc.id); got != tc.profile {
				t.Errorf("profile afterwards %q; want %q", got, tc.profile)
			}
			if _, got := rolePolicies(te, "web-role")[revokePolicy]; got != tc.policy {
				t.Errorf("revoke policy on web-role: %t; want %t", got, tc.policy)
			}
		})
	}
}

// A revoke policy already deleted by hand does not fail the revert.
func TestEC2InstanceProfileRevertPolicyGone(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_ec2_instance_profile", profileAttrs("", true))
	req := instanceRequest(ec2Fleet.web1)
	before, after := applyTwice(t, te, ex, req)
	after["revoke_policy_name"] = "cordon-revoke-sessions-deleted-by-hand"
	if _, err := ex.(Reverter).Revert(context.Background(), te.env, req, before, after); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	if got := profileOf(te, region, ec2Fleet.web1); got != ec2Fleet.webProfile {
		t.Errorf("profile after Revert %q", got)
	}
}

func TestRevokeCutoffAndPolicyName(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)
	if got := revokeCutoff(at); !got.Equal(at) {
		t.Errorf("revokeCutoff(%s) = %s", at, got)
	}
	if got := revokeCutoff(at.Add(time.Millisecond)); !got.Equal(at.Add(time.Second)) {
		t.Errorf("revokeCutoff rounds %s to %s; want up to the next second", at.Add(time.Millisecond), got)
	}
	tests := map[string]string{
		"inc-0123456789abcdef":   "cordon-revoke-sessions-inc-0123456789abcdef",
		"inc/with spaces":        "cordon-revoke-sessions-inc-with-spaces",
		strings.Repeat("x", 200): ("cordon-revoke-sessions-" + strings.Repeat("x", 200))[:128],
	}
	for in, want := range tests {
		if got := revokePolicyName(in); got != want {
			t.Errorf("revokePolicyName(%q) = %q; want %q", in, got, want)
		}
	}
}

// Revert does not depend on Apply's record of the revocation: given the
// live state as after, it finds the role from the profile it restores and
// the policy from the incident.
func TestEC2InstanceProfileRevertFromLiveState(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	ex := newExecutor(t, "aws_ec2_instance_profile", profileAttrs(ec2Fleet.quarantineProfile, true))
	req := instanceRequest(ec2Fleet.web1)
	before, _ := applyTwice(t, te, ex, req)
	live, err := ex.Read(ctx, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rolePolicies(te, "web-role")[revokePolicy]; !ok {
		t.Fatal("no revoke policy after Apply")
	}
	if _, err := ex.(Reverter).Revert(ctx, te.env, req, viaJSON(t, before), viaJSON(t, live)); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	if got := profileOf(te, region, ec2Fleet.web1); got != ec2Fleet.webProfile {
		t.Errorf("profile after Revert %q", got)
	}
	if _, ok := rolePolicies(te, "web-role")[revokePolicy]; ok {
		t.Error("the revoke policy is still on web-role after Revert")
	}
	ec2CheckPermissions(t, te, ex)
}
