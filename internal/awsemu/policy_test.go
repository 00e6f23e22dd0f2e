package awsemu

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// aws_iam_deny_all on a user: every later call of the user is denied, with
// each service's own code.
func TestDenyAllUser(t *testing.T) {
	e := newEnv(t)
	_, err := iamClient(e).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String("cordon-deny-all"), PolicyDocument: aws.String(denyAll)})
	wantOK(t, err)
	mallory := e.config("us-east-1", malloryKey, "", 1)
	_, err = ec2.NewFromConfig(mallory).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "UnauthorizedOperation")
	_, err = iam.NewFromConfig(mallory).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err == nil {
		t.Error("denied user created a key")
	}
	_, err = ssm.NewFromConfig(mallory).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "AccessDeniedException")
	_, err = sts.NewFromConfig(mallory).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "AccessDenied")
	// Alice is not affected; removing the policy (revert) restores mallory.
	_, err = ec2Client(e).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	_, err = iamClient(e).DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String("cordon-deny-all")})
	wantOK(t, err)
	_, err = ec2.NewFromConfig(mallory).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
}

// aws_iam_deny_all on a role: sessions issued before now are denied, new
// ones are not.
func TestRevokeOlderSessions(t *testing.T) {
	e := newEnv(t)
	now := testNow
	e.emu.SetClock(func() time.Time { return now })
	assume := func() aws.Config {
		out, err := sts.NewFromConfig(e.cordon()).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(responderARN), RoleSessionName: aws.String("s-" + now.Format("150405"))})
		wantOK(t, err)
		return e.config("us-east-1", *out.Credentials.AccessKeyId, *out.Credentials.SessionToken, 1)
	}
	old := assume()
	now = now.Add(2 * time.Minute)
	revoke := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + now.Add(-time.Minute).Format(time.RFC3339) + `"}}}]}`
	_, err := iamClient(e).PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("cordon-responder"), PolicyName: aws.String("AWSRevokeOlderSessions"), PolicyDocument: aws.String(revoke)})
	wantOK(t, err)
	_, err = ec2.NewFromConfig(old).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "UnauthorizedOperation")
	fresh := assume()
	_, err = ec2.NewFromConfig(fresh).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	// Long-term keys have no token issue time: the condition does not apply.
	_, err = ec2Client(e).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
}

func TestDenySpecificActions(t *testing.T) {
	e := newEnv(t)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:Stop*","Resource":"*"},{"Effect":"Deny","NotAction":["ec2:*","iam:*","sts:*"],"Resource":"*"},{"Effect":"Deny","Action":"ec2:CreateTags","Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"ec2:ResourceTag/env":"prod"}}}]}`
	_, err := iamClient(e).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("limits"), PolicyDocument: aws.String(doc)})
	wantOK(t, err)
	c := ec2Client(e)
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantCode(t, err, "UnauthorizedOperation")
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	_, err = ssmClient(e).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "AccessDeniedException")
	// A statement naming resources, with a condition on their tags,
	// denies exactly those: web-1 is tagged env = prod, batch-1 is not.
	tag := []ec2types.Tag{{Key: aws.String("case"), Value: aws.String("1")}}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{web1}, Tags: tag})
	wantCode(t, err, "UnauthorizedOperation")
	if !strings.Contains(err.Error(), "on resource: arn:aws:ec2:us-east-1:"+prodAccount+":instance/"+web1+" with an explicit deny") {
		t.Errorf("the denial does not name the resource: %v", err)
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{batch1}, Tags: tag})
	wantOK(t, err)
	// One denied resource denies the whole request.
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{batch1, web1}, Tags: tag})
	wantCode(t, err, "UnauthorizedOperation")
}

// With identity policies enforced, a request needs an Allow for every
// resource it acts on: here, instance writes only on instances tagged
// env = prod, describe calls on "*".
func TestEnforcedPolicies(t *testing.T) {
	e := newEnv(t)
	doc := `{"Version":"2012-10-17","Statement":[
		{"Sid":"Read","Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
		{"Sid":"Stop","Effect":"Allow","Action":["ec2:StopInstances","ec2:StartInstances"],"Resource":"arn:aws:ec2:us-east-?:111122223333:instance/*",
		 "Condition":{"StringLike":{"ec2:ResourceTag/env":["prod","staging*"]}}},
		{"Sid":"Tag","Effect":"Allow","Action":"ec2:CreateTags","Resource":"arn:aws:ec2:*:*:instance/*",
		 "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["cordon:incident"]}}}]}`
	_, err := iamClient(e).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("responder"), PolicyDocument: aws.String(doc)})
	wantOK(t, err)
	e.emu.EnforcePolicies(true)
	e.emu.ResetCalls()
	c := ec2Client(e)
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{batch1}})
	wantCode(t, err, "UnauthorizedOperation")
	if !strings.Contains(err.Error(), "because no identity-based policy allows the ec2:StopInstances action") {
		t.Errorf("implicit deny: %v", err)
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{batch1}, Tags: []ec2types.Tag{{Key: aws.String("cordon:incident"), Value: aws.String("inc-1")}}})
	wantOK(t, err)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{batch1}, Tags: []ec2types.Tag{
		{Key: aws.String("cordon:incident"), Value: aws.String("inc-1")}, {Key: aws.String("owner"), Value: aws.String("x")}}})
	wantCode(t, err, "UnauthorizedOperation")
	// Nothing grants IAM calls; GetCallerIdentity needs no permission.
	_, err = iamClient(e).ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	wantCode(t, err, "AccessDenied")
	_, err = sts.NewFromConfig(e.prod()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantOK(t, err)

	// What the calls recorded is enough to judge them again offline.
	for _, call := range e.emu.Calls() {
		if call.Account != prodAccount || call.Service == "sts" {
			continue
		}
		ok, why, err := Allows([]string{doc}, call)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (call.ErrorCode == "") {
			t.Errorf("%s (%s): offline %v (%s)", call.Action(), call.ErrorCode, ok, why)
		}
	}
}

func TestARNMatching(t *testing.T) {
	cases := []struct {
		pattern, arn string
		want         bool
	}{
		{"*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", true},
		{"*", "*", true},
		{"arn:aws:ec2:*:*:instance/*", "*", false},
		{"arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", true},
		{"arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:111122223333:volume/vol-1", false},
		// A wildcard stays within its part: * in the region does not
		// reach into the account.
		{"arn:aws:ec2:us-*:instance/*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", false},
		{"arn:aws:ec2:eu-*:111122223333:instance/*", "arn:aws:ec2:us-east-1:111122223333:instance/i-1", false},
		{"arn:aws:ec2:*::snapshot/*", "arn:aws:ec2:us-east-1::snapshot/snap-1", true},
		{"arn:aws:ec2:*:*:snapshot/*", "arn:aws:ec2:us-east-1::snapshot/snap-1", true},
		{"arn:aws:ssm:*::document/AWS-RunShellScript", "arn:aws:ssm:us-east-1::document/AWS-RunShellScript", true},
		{"arn:aws:ssm:*::document/AWS-RunShellScript", "arn:aws:ssm:us-east-1::document/AWS-RunShellScriptX", false},
		{"arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/*", "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:abc:autoScalingGroupName/web", true},
		{"arn:aws:iam::*:user/*", "arn:aws:iam::111122223333:user/ops/alice", true},
		{"arn:aws:iam::*:role/cordon-?esponder", "arn:aws:iam::111122223333:role/cordon-responder", true},
		{"arn:aws:sqs:us-west-2:1:cordon-${*}", "arn:aws:sqs:us-west-2:1:cordon-*", true},
		{"arn:aws:sqs:us-west-2:1:cordon-${*}", "arn:aws:sqs:us-west-2:1:cordon-x", false},
		{"arn:aws:ec2", "arn:aws:ec2:us-east-1:1:instance/i-1", false},
	}
	for _, tc := range cases {
		if got := arnMatches(tc.pattern, tc.arn); got != tc.want {
			t.Errorf("arnMatches(%q, %q) = %v, want %v", tc.pattern, tc.arn, got, tc.want)
		}
	}
}

// The set qualifiers of multivalued keys, with IAM's treatment of keys
// the request lacks.
func TestConditionSets(t *testing.T) {
	tagKeys := map[string][]string{"aws:tagkeys": {"cordon:incident", "owner"}}
	cases := []struct {
		cond string
		keys map[string][]string
		want bool
	}{
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["cordon:incident","owner","x"]}}`, tagKeys, true},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["cordon:incident"]}}`, tagKeys, false},
		{`{"ForAllValues:StringEquals":{"aws:TagKeys":["cordon:incident"]}}`, nil, true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}}`, tagKeys, true},
		{`{"ForAnyValue:StringEquals":{"aws:TagKeys":["owner"]}}`, nil, false},
		{`{"ForAllValues:StringNotEquals":{"aws:TagKeys":["aws:x"]}}`, tagKeys, true},
		{`{"StringEquals":{"aws:TagKeys":"owner"}}`, tagKeys, true},
		{`{"StringEquals":{"ec2:ResourceTag/Env":"prod"}}`, map[string][]string{"ec2:resourcetag/env": {"prod"}}, true},
		{`{"StringEquals":{"ec2:ResourceTag/Env":"prod"}}`, nil, false},
		{`{"StringNotLike":{"ec2:ResourceTag/cordon:exempt":"true"}}`, nil, true},
		{`{"StringNotLike":{"ec2:ResourceTag/cordon:exempt":"true"}}`, map[string][]string{"ec2:resourcetag/cordon:exempt": {"true"}}, false},
		{`{"StringLike":{"ec2:ResourceTag/Role":"web${*}"}}`, map[string][]string{"ec2:resourcetag/role": {"web*"}}, true},
		{`{"StringLike":{"ec2:ResourceTag/Role":"web${*}"}}`, map[string][]string{"ec2:resourcetag/role": {"web1"}}, false},
		{`{"StringEquals":{"ec2:ResourceTag/Owner":"${$}{team}"}}`, map[string][]string{"ec2:resourcetag/owner": {"${team}"}}, true},
		{`{"StringEquals":{"ec2:ResourceTag/Owner":"${$}{team}"}}`, map[string][]string{"ec2:resourcetag/owner": {"${$}{team}"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.cond, func(t *testing.T) {
			p, err := parsePolicy(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + tc.cond + `}}`)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Statements[0].conditionsHold(recordedContext{keys: tc.keys}); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Allows judges recorded calls: an Allow for each authorization, and no
// Deny, which wins.
func TestAllows(t *testing.T) {
	call := Call{Service: "ec2", Operation: "StopInstances", Authorizations: []Authorization{
		{Action: "ec2:StopInstances", Resource: "arn:aws:ec2:us-east-1:1:instance/i-1", Context: map[string][]string{"ec2:resourcetag/env": {"prod"}}},
	}}
	allow := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:StopInstances","Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"ec2:ResourceTag/env":"prod"}}}}`
	deny := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"ec2:*","Resource":"*"}}`
	other := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:StopInstances","Resource":"arn:aws:ec2:*:*:volume/*"}}`
	for _, tc := range []struct {
		docs []string
		want bool
	}{{[]string{allow}, true}, {[]string{allow, deny}, false}, {[]string{other}, false}, {nil, false}} {
		ok, why, err := Allows(tc.docs, call)
		if err != nil || ok != tc.want {
			t.Errorf("%v: %v %s %v", tc.docs, ok, why, err)
		}
	}
	if _, _, err := Allows([]string{`{"Statement":[]`}, call); err == nil {
		t.Error("a malformed policy was accepted")
	}
}

func TestPolicyConditionOperators(t *testing.T) {
	e := newEnv(t)
	r := &request{e: e.emu, now: testNow, call: &Call{Region: "us-east-1"}, http: httptest.NewRequest("POST", "/", nil)}
	r.caller = &principal{account: &Account{ID: prodAccount}, arn: "arn:aws:iam::111122223333:user/alice", userID: "AIDAX", user: &User{Name: "alice"}}
	cases := []struct {
		cond string
		want bool
	}{
		{`{"StringEquals":{"aws:username":"alice"}}`, true},
		{`{"StringNotEquals":{"aws:username":"alice"}}`, false},
		{`{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/a*"}}`, true},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, true},
		{`{"DateLessThan":{"aws:TokenIssueTime":"2030-01-01T00:00:00Z"}}`, false},
		{`{"DateLessThanIfExists":{"aws:TokenIssueTime":"2030-01-01T00:00:00Z"}}`, true},
		{`{"Null":{"aws:TokenIssueTime":"true"}}`, true},
		{`{"StringEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}}`, true},
		{`{"NumericGreaterThan":{"aws:EpochTime":1}}`, true},
		{`{"Bool":{"aws:SecureTransport":"false"}}`, true},
		{`{"ForAnyValue:StringEquals":{"aws:username":["bob","alice"]}}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.cond, func(t *testing.T) {
			p, err := parsePolicy(`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":` + tc.cond + `}}`)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Statements[0].conditionsHold(liveContext{r: r}); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The seed's enforce_policies option enforces from the start: alice,
// whose inline policy allows only reading EC2, may describe and may not
// stop.
func TestSeedEnforcePolicies(t *testing.T) {
	seed, err := LoadSeed("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	seed.Options.EnforcePolicies = true
	e := newEnvSeed(t, seed)
	if err := e.emu.PutInlinePolicy("arn:aws:iam::"+prodAccount+":user/alice", "read",
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}`); err != nil {
		t.Fatal(err)
	}
	c := ec2Client(e)
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantCode(t, err, "UnauthorizedOperation")
	if err := e.emu.PutInlinePolicy("arn:aws:iam::"+prodAccount+":user/nobody", "x", "{}"); err == nil {
		t.Error("a policy was put on a user that does not exist")
	}
	if err := e.emu.PutInlinePolicy("arn:aws:iam::"+prodAccount+":user/alice", "x", `{"Statement":[]`); err == nil {
		t.Error("a malformed policy was accepted")
	}
}
