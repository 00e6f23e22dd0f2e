package awsemu

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/cordonhq/cordon/internal/awsclient"
)

// cordon's own client factory (adaptive retries, a role assumed per
// account) works against the emulator as it would against AWS.
func TestAWSClientFactory(t *testing.T) {
	e := newEnv(t)
	f, err := awsclient.New(ctx, awsclient.Options{
		Region: "us-east-1", Endpoint: e.srv.URL,
		Credentials:   credentials.NewStaticCredentialsProvider(cordonKey, "secret", ""),
		AssumeRoleARN: "arn:aws:iam::{account}:role/cordon-responder",
	})
	wantOK(t, err)
	out, err := f.EC2(prodAccount, "us-east-1").DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	if len(out.Reservations) != 1 {
		t.Fatalf("reservations %d", len(out.Reservations))
	}
	calls := e.callsOf("ec2:DescribeInstances")
	if len(calls) != 1 || calls[0].Account != prodAccount || calls[0].Principal != "arn:aws:sts::111122223333:assumed-role/cordon-responder/cordon" {
		t.Errorf("calls %+v", calls)
	}
	key, err := f.AccessKeyID(ctx, prodAccount, "us-east-1")
	wantOK(t, err)
	// The assumed role's key is a session key, not cordon's own.
	if _, err := f.IAM(prodAccount, "us-east-1").GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(key)}); errorCode(err) != "AccessDenied" {
		t.Errorf("GetAccessKeyLastUsed of a session key: %v", err)
	}
}
