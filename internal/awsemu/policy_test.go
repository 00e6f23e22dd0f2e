package awsemu

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
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
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:Stop*","Resource":"*"},{"Effect":"Deny","NotAction":["ec2:*","iam:*","sts:*"],"Resource":"*"},{"Effect":"Deny","Action":"ec2:CreateTags","Resource":"arn:aws:ec2:*:*:instance/*"}]}`
	_, err := iamClient(e).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("limits"), PolicyDocument: aws.String(doc)})
	wantOK(t, err)
	c := ec2Client(e)
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantCode(t, err, "UnauthorizedOperation")
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
	_, err = ssmClient(e).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	wantCode(t, err, "AccessDeniedException")
	// Statements naming specific resources are not enforced (see policy.go).
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{web1}, Tags: nil})
	if code := errorCode(err); code == "UnauthorizedOperation" {
		t.Error("a resource-specific statement was enforced")
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
			if got := p.Statements[0].conditionsHold(r); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
