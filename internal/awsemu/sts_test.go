package awsemu

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const responderARN = "arn:aws:iam::111122223333:role/cordon-responder"

// cordon starts in the security account.
func (e *env) cordon() aws.Config { return e.config("us-east-1", cordonKey, "", 3) }

func TestAssumeRoleActsInTheRolesAccount(t *testing.T) {
	e := newEnv(t)
	c := sts.NewFromConfig(e.cordon())
	me, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantOK(t, err)
	if *me.Account != securityAccount || *me.Arn != "arn:aws:iam::444455556666:user/automation/cordon" {
		t.Errorf("caller %s %s", *me.Account, *me.Arn)
	}

	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(responderARN), RoleSessionName: aws.String("cordon-inc-1"), DurationSeconds: aws.Int32(900)})
	wantOK(t, err)
	cr := out.Credentials
	if !strings.HasPrefix(*cr.AccessKeyId, "ASIA") || len(*cr.AccessKeyId) != 20 || *cr.SessionToken == "" || !cr.Expiration.Equal(testNow.Add(15*time.Minute)) {
		t.Errorf("credentials %+v", cr)
	}
	if *out.AssumedRoleUser.Arn != "arn:aws:sts::111122223333:assumed-role/cordon-responder/cordon-inc-1" || !strings.HasSuffix(*out.AssumedRoleUser.AssumedRoleId, ":cordon-inc-1") {
		t.Errorf("assumed role user %+v", out.AssumedRoleUser)
	}

	// The temporary credentials act in the prod account.
	prod := e.config("us-east-1", *cr.AccessKeyId, *cr.SessionToken, 3)
	who, err := sts.NewFromConfig(prod).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantOK(t, err)
	if *who.Account != prodAccount || *who.Arn != *out.AssumedRoleUser.Arn {
		t.Errorf("session identity %s %s", *who.Account, *who.Arn)
	}
	in, err := ec2.NewFromConfig(prod).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	if len(in.Reservations) != 1 || *in.Reservations[0].OwnerId != prodAccount {
		t.Errorf("prod instance via the session: %+v", in.Reservations)
	}
	calls := e.callsOf("ec2:DescribeInstances")
	if len(calls) != 1 || calls[0].Account != prodAccount || calls[0].Principal != *out.AssumedRoleUser.Arn {
		t.Errorf("recorded call %+v", calls)
	}
	// In the security account there is no such instance.
	_, err = ec2.NewFromConfig(e.cordon()).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{web1}})
	wantCode(t, err, "InvalidInstanceID.NotFound")

	// The SDK's own assume-role provider works against the emulator.
	cfg := e.cordon()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(c, responderARN))
	who, err = sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantOK(t, err)
	if *who.Account != prodAccount {
		t.Errorf("stscreds identity %s", *who.Account)
	}

	// A wrong session token, and an expired session, are refused.
	bad := e.config("us-east-1", *cr.AccessKeyId, "forged", 1)
	_, err = sts.NewFromConfig(bad).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")
	e.emu.SetClock(func() time.Time { return testNow.Add(16 * time.Minute) })
	_, err = ec2.NewFromConfig(e.config("us-east-1", *cr.AccessKeyId, *cr.SessionToken, 1)).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "RequestExpired")
	_, err = iam.NewFromConfig(e.config("us-east-1", *cr.AccessKeyId, *cr.SessionToken, 1)).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("web-role")})
	wantCode(t, err, "ExpiredToken")
}

func TestAssumeRoleErrors(t *testing.T) {
	e := newEnv(t)
	c := sts.NewFromConfig(e.cordon())
	alice := sts.NewFromConfig(e.prod())
	cases := []struct {
		name   string
		client *sts.Client
		in     sts.AssumeRoleInput
		code   string
	}{
		{"unknown role", c, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/nope"), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"unknown account", c, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::999988887777:role/x"), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"not trusted", alice, sts.AssumeRoleInput{RoleArn: aws.String(responderARN), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"duration over the role's maximum", c, sts.AssumeRoleInput{RoleArn: aws.String(responderARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(7200)}, "ValidationError"},
		{"bad session name", c, sts.AssumeRoleInput{RoleArn: aws.String(responderARN), RoleSessionName: aws.String("a b")}, "ValidationError"},
		{"malformed arn", c, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::1:user/x-and-more"), RoleSessionName: aws.String("s1")}, "ValidationError"},
		{"malformed session policy", c, sts.AssumeRoleInput{RoleArn: aws.String(responderARN), RoleSessionName: aws.String("s1"), Policy: aws.String("{")}, "MalformedPolicyDocument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.AssumeRole(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestAllowAnyRoleCreatesRoles(t *testing.T) {
	e := newEnv(t)
	c := sts.NewFromConfig(e.prod())
	arn := "arn:aws:iam::444455556666:role/ops/anything"
	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("demo")})
	wantOK(t, err)
	if *out.AssumedRoleUser.Arn != "arn:aws:sts::444455556666:assumed-role/anything/demo" {
		t.Errorf("arn %s", *out.AssumedRoleUser.Arn)
	}
	role := e.emu.Snapshot().Accounts[securityAccount].Roles["anything"]
	if role == nil || role.ARN != arn {
		t.Fatalf("role not created: %+v", role)
	}
}
