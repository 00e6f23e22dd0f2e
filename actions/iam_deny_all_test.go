package actions

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// principalRequest is a request against an IAM user or role.
func principalRequest(typ, account, name string) *Request {
	return &Request{
		IncidentID: "inc-0123456789abcdef",
		Target:     Target{Type: typ, ID: name, Account: account, Region: region},
		Resource:   schema.Resource{Type: typ, ID: name, Tags: map[string]string{}, Details: map[string]any{}},
		Facts:      map[string]map[string]any{},
	}
}

// inlinePolicy is a user's or role's inline policy document in the
// emulator, "" when it has none of that name.
func inlinePolicy(te *testEnv, account, typ, name, policy string) string {
	a := te.emu.Snapshot().Accounts[account]
	if typ == schema.ResourceIAMRole {
		return a.Roles[name].Policies[policy]
	}
	return a.Users[name].Policies[policy]
}

// assumeAt assumes role as alice with the emulator's clock at t, and
// returns an EC2 client using the session.
func assumeAt(t *testing.T, te *testEnv, role, session string, at time.Time) *ec2.Client {
	t.Helper()
	te.emu.SetClock(func() time.Time { return at })
	defer te.emu.SetClock(func() time.Time { return testNow })
	out, err := sts.NewFromConfig(configAs(te, aliceKey, "")).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + prodAccount + ":role/" + role), RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatal(err)
	}
	return ec2As(te, *out.Credentials.AccessKeyId, *out.Credentials.SessionToken)
}

func describeErr(c *ec2.Client) error {
	_, err := c.DescribeInstances(bg, &ec2.DescribeInstancesInput{})
	return err
}

func TestIAMDenyAllRead(t *testing.T) {
	te := newTestEnv(t)
	// A deny-all put there before cordon, under cordon's policy name.
	if _, err := te.env.AWS.IAM(prodAccount, region).PutRolePolicy(bg, &iam.PutRolePolicyInput{RoleName: aws.String("batch-role"),
		PolicyName: aws.String(DefaultDenyAllPolicyName), PolicyDocument: aws.String(denyAllDocument("2025-02-01T00:00:00Z"))}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		policy  string
		req     *Request
		want    map[string]any
		code    string
		refused bool
	}{
		{"user without", "", principalRequest(schema.ResourceIAMUser, prodAccount, "mallory"), map[string]any{"inline_policy": nil}, "", false},
		{"role without", "", principalRequest(schema.ResourceIAMRole, prodAccount, "web-role"), map[string]any{"inline_policy": nil}, "", false},
		{"role with", "", principalRequest(schema.ResourceIAMRole, prodAccount, "batch-role"),
			map[string]any{"inline_policy": DefaultDenyAllPolicyName, "sessions_revoked_before": "2025-02-01T00:00:00Z"}, "", false},
		{"another policy of that name", "read-only-ec2", principalRequest(schema.ResourceIAMUser, prodAccount, "alice"), nil, "", true},
		{"unknown user", "", principalRequest(schema.ResourceIAMUser, prodAccount, "nobody"), nil, "NoSuchEntity", false},
		{"unknown role", "", principalRequest(schema.ResourceIAMRole, prodAccount, "nobody"), nil, "NoSuchEntity", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := map[string]cty.Value{}
			if tc.policy != "" {
				attrs["policy_name"] = cty.StringVal(tc.policy)
			}
			ex := newExecutor(t, "aws_iam_deny_all", attrs)
			live, err := ex.Read(bg, te.env, tc.req)
			switch {
			case tc.want != nil:
				if err != nil || !reflect.DeepEqual(live, tc.want) {
					t.Errorf("Read = %v, %v; want %v", live, err, tc.want)
				}
			case err == nil:
				t.Errorf("Read = %v, want an error", live)
			case tc.code != "" && apiCode(err) != tc.code:
				t.Errorf("error %v (code %q), want code %s", err, apiCode(err), tc.code)
			case tc.refused != errors.Is(err, ErrRefused):
				t.Errorf("error %v: refused = %v, want %v", err, errors.Is(err, ErrRefused), tc.refused)
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
	if doc := inlinePolicy(te, prodAccount, schema.ResourceIAMUser, "alice", "read-only-ec2"); doc == "" {
		t.Error("alice's own policy is gone")
	}
}

// A user's deny-all takes effect at once on its keys, and revert lifts it.
func TestIAMDenyAllUser(t *testing.T) {
	for _, policy := range []string{"", "ir-quarantine"} {
		t.Run("policy_name="+policy, func(t *testing.T) {
			te := newTestEnv(t)
			attrs := map[string]cty.Value{}
			name := DefaultDenyAllPolicyName
			if policy != "" {
				attrs["policy_name"], name = cty.StringVal(policy), policy
			}
			ex := newExecutor(t, "aws_iam_deny_all", attrs)
			req := principalRequest(schema.ResourceIAMUser, prodAccount, "mallory")
			attacker := ec2As(te, malloryKey, "")
			if err := describeErr(attacker); err != nil {
				t.Fatalf("allowed before: %v", err)
			}

			before, err := ex.Read(bg, te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			after, changed, err := ex.Apply(bg, te.env, req, before)
			if err != nil || !changed || !reflect.DeepEqual(after, map[string]any{"inline_policy": name}) {
				t.Fatalf("Apply = %v, %v, %v", after, changed, err)
			}
			if doc := inlinePolicy(te, prodAccount, schema.ResourceIAMUser, "mallory", name); doc != denyAllDocument("") {
				t.Errorf("policy %q", doc)
			}
			if err := describeErr(attacker); apiCode(err) != "UnauthorizedOperation" {
				t.Errorf("after Apply, the user's key gets %v, want UnauthorizedOperation", err)
			}

			live, err := ex.Read(bg, te.env, req)
			if err != nil || !reflect.DeepEqual(live, after) {
				t.Fatalf("Read after Apply = %v, %v", live, err)
			}
			te.emu.ResetCalls()
			if _, changed, err := ex.Apply(bg, te.env, req, live); err != nil || changed {
				t.Errorf("second Apply: changed=%v err=%v", changed, err)
			}
			if n := len(actionCalls(te.emu)); n != 0 {
				t.Errorf("second Apply made %d calls", n)
			}

			restored, err := ex.(Reverter).Revert(bg, te.env, req, jsonRoundTrip(t, before), after)
			if err != nil || !reflect.DeepEqual(restored, before) {
				t.Fatalf("Revert = %v, %v; want %v", restored, err, before)
			}
			if doc := inlinePolicy(te, prodAccount, schema.ResourceIAMUser, "mallory", name); doc != "" {
				t.Errorf("policy left after Revert: %s", doc)
			}
			if err := describeErr(attacker); err != nil {
				t.Errorf("after Revert, the user's key gets %v", err)
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
}

// A role's deny-all revokes the sessions issued before it, and lets a
// later assumption work.
func TestIAMDenyAllRole(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_iam_deny_all", nil)
	req := principalRequest(schema.ResourceIAMRole, prodAccount, "web-role")
	stolen := assumeAt(t, te, "web-role", "stolen", testNow.Add(-10*time.Minute))
	if err := describeErr(stolen); err != nil {
		t.Fatalf("allowed before: %v", err)
	}

	before, err := ex.Read(bg, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(bg, te.env, req, before)
	want := map[string]any{"inline_policy": DefaultDenyAllPolicyName, "sessions_revoked_before": "2025-03-01T12:30:00Z"}
	if err != nil || !changed || !reflect.DeepEqual(after, want) {
		t.Fatalf("Apply = %v, %v, %v; want %v", after, changed, err, want)
	}
	if doc := inlinePolicy(te, prodAccount, schema.ResourceIAMRole, "web-role", DefaultDenyAllPolicyName); doc != denyAllDocument("2025-03-01T12:30:00Z") {
		t.Errorf("policy %s", doc)
	}
	if doc := inlinePolicy(te, prodAccount, schema.ResourceIAMRole, "web-role", "s3-logs"); doc == "" {
		t.Error("the role's own policy is gone")
	}
	if err := describeErr(stolen); apiCode(err) != "UnauthorizedOperation" {
		t.Errorf("after Apply, the older session gets %v, want UnauthorizedOperation", err)
	}
	fresh := assumeAt(t, te, "web-role", "fresh", testNow.Add(time.Minute))
	te.emu.SetClock(func() time.Time { return testNow.Add(2 * time.Minute) })
	if err := describeErr(fresh); err != nil {
		t.Errorf("after Apply, a session issued later gets %v", err)
	}
	te.emu.SetClock(func() time.Time { return testNow })

	live, err := ex.Read(bg, te.env, req)
	if err != nil || !reflect.DeepEqual(live, after) {
		t.Fatalf("Read after Apply = %v, %v", live, err)
	}
	// A later incident finds the policy in place: the earlier cut-off
	// stays, nothing is called.
	te.env.Now = func() time.Time { return testNow.Add(time.Hour) }
	te.emu.ResetCalls()
	if again, changed, err := ex.Apply(bg, te.env, req, live); err != nil || changed || !reflect.DeepEqual(again, after) {
		t.Errorf("second Apply = %v, changed=%v, err=%v", again, changed, err)
	}
	if n := len(actionCalls(te.emu)); n != 0 {
		t.Errorf("second Apply made %d calls", n)
	}

	restored, err := ex.(Reverter).Revert(bg, te.env, req, jsonRoundTrip(t, before), jsonRoundTrip(t, after))
	if err != nil || !reflect.DeepEqual(restored, before) {
		t.Fatalf("Revert = %v, %v; want %v", restored, err, before)
	}
	if err := describeErr(stolen); err != nil {
		t.Errorf("after Revert, the older session gets %v", err)
	}
	checkPermitted(t, ex, actionCalls(te.emu))
}

// Revert takes away only what cordon put: a policy that was there before
// Apply stays.
func TestIAMDenyAllRevertKeepsEarlierPolicy(t *testing.T) {
	te := newTestEnv(t)
	ex := newExecutor(t, "aws_iam_deny_all", nil)
	req := principalRequest(schema.ResourceIAMUser, prodAccount, "mallory")
	if _, err := te.env.AWS.IAM(prodAccount, region).PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("mallory"),
		PolicyName: aws.String(DefaultDenyAllPolicyName), PolicyDocument: aws.String(denyAllDocument(""))}); err != nil {
		t.Fatal(err)
	}
	before, err := ex.Read(bg, te.env, req)
	if err != nil {
		t.Fatal(err)
	}
	after, changed, err := ex.Apply(bg, te.env, req, before)
	if err != nil || changed {
		t.Fatalf("Apply: changed=%v err=%v", changed, err)
	}
	if _, err := ex.(Reverter).Revert(bg, te.env, req, before, after); err != nil {
		t.Fatal(err)
	}
	if doc := inlinePolicy(te, prodAccount, schema.ResourceIAMUser, "mallory", DefaultDenyAllPolicyName); doc == "" {
		t.Error("Revert deleted a policy cordon did not put")
	}
}

// Cordon never denies the principal it acts as.
func TestIAMDenyAllRefusesOwnPrincipal(t *testing.T) {
	tests := []*Request{
		principalRequest(schema.ResourceIAMRole, prodAccount, "cordon-responder"),
		principalRequest(schema.ResourceIAMUser, securityAccount, "cordon"),
	}
	for _, req := range tests {
		t.Run(req.Target.Type+"."+req.Target.ID, func(t *testing.T) {
			te := newTestEnv(t)
			ex := newExecutor(t, "aws_iam_deny_all", nil)
			live, err := ex.Read(bg, te.env, req)
			if err != nil {
				t.Fatal(err)
			}
			_, changed, err := ex.Apply(bg, te.env, req, live)
			if !errors.Is(err, ErrRefused) || changed {
				t.Fatalf("Apply: changed=%v err=%v, want refused", changed, err)
			}
			if n := countCalls(actionCalls(te.emu), "iam:PutUserPolicy", "iam:PutRolePolicy"); n != 0 {
				t.Errorf("%d Put calls", n)
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
}

func TestIAMDenyAllErrors(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		who   string
		fault func(*awsemu.Faults)
		code  string
		want  bool // the policy is attached afterwards
	}{
		{"put denied", schema.ResourceIAMRole, "web-role", func(f *awsemu.Faults) {
			f.Fail("iam:PutRolePolicy", "web-role", "AccessDenied", "not authorized")
		}, "AccessDenied", false},
		{"list throttled twice, then served", schema.ResourceIAMUser, "mallory", func(f *awsemu.Faults) {
			f.Throttle("iam:ListUserPolicies", 2)
		}, "", true},
		{"identity unknown", schema.ResourceIAMUser, "mallory", func(f *awsemu.Faults) {
			f.ServerError("sts:GetCallerIdentity", -1)
		}, "InternalFailure", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ex := newExecutor(t, "aws_iam_deny_all", nil)
			tc.fault(te.emu.Faults())
			req := principalRequest(tc.typ, prodAccount, tc.who)
			live, err := ex.Read(bg, te.env, req)
			if err == nil {
				_, _, err = ex.Apply(bg, te.env, req, live)
			}
			if tc.code == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.code != "" && apiCode(err) != tc.code {
				t.Fatalf("error %v (code %q), want code %s", err, apiCode(err), tc.code)
			}
			if got := inlinePolicy(te, prodAccount, tc.typ, tc.who, DefaultDenyAllPolicyName) != ""; got != tc.want {
				t.Errorf("policy attached = %v, want %v", got, tc.want)
			}
			checkPermitted(t, ex, actionCalls(te.emu))
		})
	}
}

func TestRevocationCutoff(t *testing.T) {
	tests := []struct {
		now  time.Time
		want string
	}{
		{time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC), "2025-03-01T12:30:00Z"},
		{time.Date(2025, 3, 1, 12, 30, 0, 1, time.UTC), "2025-03-01T12:30:01Z"},
		{time.Date(2025, 3, 1, 12, 59, 59, 999_999_999, time.UTC), "2025-03-01T13:00:00Z"},
		{time.Date(2025, 3, 1, 14, 30, 0, 500, time.FixedZone("CET", 3600)), "2025-03-01T13:30:01Z"},
	}
	for _, tc := range tests {
		if got := revocationCutoff(tc.now); got != tc.want {
			t.Errorf("revocationCutoff(%v) = %s, want %s", tc.now, got, tc.want)
		}
	}
}

func TestParseDenyAll(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		deny   bool
		cutoff string
	}{
		{"cordon's, user", denyAllDocument(""), true, ""},
		{"cordon's, role", denyAllDocument("2025-03-01T12:30:00Z"), true, "2025-03-01T12:30:00Z"},
		{"AWSRevokeOlderSessions", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2024-01-01T00:00:00Z"}}}]}`, true, "2024-01-01T00:00:00Z"},
		{"one statement, not a list", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`, true, ""},
		{"among others", `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":["s3:*","*"],"Resource":"*"}]}`, true, ""},
		{"allow", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, false, ""},
		{"some actions", `{"Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`, false, ""},
		{"some resources", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::b/*"}]}`, false, ""},
		{"NotAction", `{"Statement":[{"Effect":"Deny","NotAction":"iam:*","Action":"*","Resource":"*"}]}`, false, ""},
		{"not JSON", `{"Statement":`, false, ""},
		{"no statement", `{}`, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deny, cutoff := parseDenyAll(tc.doc)
			if deny != tc.deny || cutoff != tc.cutoff {
				t.Errorf("parseDenyAll = %v, %q; want %v, %q", deny, cutoff, tc.deny, tc.cutoff)
			}
		})
	}
}

func FuzzParseDenyAll(f *testing.F) {
	f.Add(denyAllDocument(""))
	f.Add(denyAllDocument("2025-03-01T12:30:00Z"))
	f.Add(`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":5}}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		deny, cutoff := parseDenyAll(doc)
		if !deny && cutoff != "" {
			t.Errorf("cut-off %q without a deny", cutoff)
		}
	})
}

func TestPrincipalOfARN(t *testing.T) {
	tests := []struct {
		arn     string
		account string
		role    bool
		name    string
		ok      bool
	}{
		{"arn:aws:iam::444455556666:user/automation/cordon", "444455556666", false, "cordon", true},
		{"arn:aws:iam::111122223333:user/alice", "111122223333", false, "alice", true},
		{"arn:aws:sts::111122223333:assumed-role/cordon-responder/cordon", "111122223333", true, "cordon-responder", true},
		{"arn:aws:iam::111122223333:role/svc/web-role", "111122223333", true, "web-role", true},
		{"arn:aws-us-gov:sts::111122223333:assumed-role/r/s", "111122223333", true, "r", true},
		{"arn:aws:iam::111122223333:root", "", false, "", false},
		{"arn:aws:sts::111122223333:federated-user/bob", "", false, "", false},
		{"not an arn", "", false, "", false},
	}
	for _, tc := range tests {
		account, role, name, ok := principalOfARN(tc.arn)
		if account != tc.account || role != tc.role || name != tc.name || ok != tc.ok {
			t.Errorf("principalOfARN(%q) = %q, %v, %q, %v", tc.arn, account, role, name, ok)
		}
	}
}
