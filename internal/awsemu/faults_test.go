package awsemu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// faultCases call one operation of every service, with the codes that
// service throttles and fails with.
var faultCases = []struct {
	op                 string
	throttle, internal string
	status             int // of the throttling error
	call               func(aws.Config) error
}{
	{"ec2:ModifyNetworkInterfaceAttribute", "RequestLimitExceeded", "InternalError", 503, func(c aws.Config) error {
		_, err := ec2.NewFromConfig(c).ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(web1ENI), Groups: []string{sgIsolation}})
		return err
	}},
	{"autoscaling:DescribeAutoScalingInstances", "Throttling", "InternalFailure", 400, func(c aws.Config) error {
		_, err := autoscaling.NewFromConfig(c).DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{})
		return err
	}},
	{"elasticloadbalancing:DescribeTargetGroups", "Throttling", "InternalFailure", 400, func(c aws.Config) error {
		_, err := elbv2.NewFromConfig(c).DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
		return err
	}},
	{"elasticloadbalancing:DescribeLoadBalancers", "Throttling", "InternalFailure", 400, func(c aws.Config) error {
		_, err := elb.NewFromConfig(c).DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
		return err
	}},
	{"iam:ListAccessKeys", "Throttling", "ServiceFailure", 400, func(c aws.Config) error {
		_, err := iam.NewFromConfig(c).ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
		return err
	}},
	{"sts:GetCallerIdentity", "Throttling", "InternalFailure", 400, func(c aws.Config) error {
		_, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
	{"ssm:DescribeInstanceInformation", "ThrottlingException", "InternalServerError", 400, func(c aws.Config) error {
		_, err := ssm.NewFromConfig(c).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
		return err
	}},
	{"cloudtrail:LookupEvents", "ThrottlingException", "InternalServerError", 400, func(c aws.Config) error {
		_, err := cloudtrail.NewFromConfig(c).LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
		return err
	}},
	{"guardduty:ListDetectors", "TooManyRequestsException", "InternalServerErrorException", 429, func(c aws.Config) error {
		_, err := guardduty.NewFromConfig(c).ListDetectors(ctx, &guardduty.ListDetectorsInput{})
		return err
	}},
}

func TestThrottlingIsRetriedByTheSDK(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.op, func(t *testing.T) {
			e := newEnv(t)
			e.emu.Faults().Throttle(tc.op, 2)
			wantOK(t, tc.call(e.config("us-east-1", aliceKey, "", 3)))
			calls := e.callsOf(tc.op)
			if len(calls) != 3 || calls[0].ErrorCode != tc.throttle || calls[1].ErrorCode != tc.throttle || calls[2].ErrorCode != "" ||
				calls[0].Status != tc.status || calls[2].Status != 200 {
				t.Errorf("attempts %+v", calls)
			}

			e.emu.Faults().Throttle(tc.op, 1)
			wantCode(t, tc.call(e.config("us-east-1", aliceKey, "", 1)), tc.throttle)

			e.emu.Faults().ServerError(tc.op, 1)
			wantCode(t, tc.call(e.config("us-east-1", aliceKey, "", 1)), tc.internal)
			e.emu.Faults().ServerError(tc.op, 2)
			wantOK(t, tc.call(e.config("us-east-1", aliceKey, "", 3)))
		})
	}
}

func TestFaultScopes(t *testing.T) {
	e := newEnv(t)
	one := e.config("us-east-1", aliceKey, "", 1)
	c := ec2.NewFromConfig(one)
	e.emu.Faults().Throttle("ec2:*", -1)
	_, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	wantCode(t, err, "RequestLimitExceeded")
	_, err = iam.NewFromConfig(one).GetUser(ctx, &iam.GetUserInput{})
	wantOK(t, err) // another service is not throttled
	e.emu.Faults().Clear()
	_, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	wantOK(t, err)
	e.emu.Faults().ServerError("*", 1)
	_, err = iam.NewFromConfig(one).GetUser(ctx, &iam.GetUserInput{})
	wantCode(t, err, "ServiceFailure")

	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "ec2:DescribeInstance") {
			t.Errorf("a typo in an op did not panic: %v", r)
		}
	}()
	e.emu.Faults().Throttle("ec2:DescribeInstance", 1)
}

func TestFailOneResource(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	e.emu.Faults().Fail("ec2:StopInstances", web1, "UnauthorizedOperation", "You are not authorized to perform this operation.")
	_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantCode(t, err, "UnauthorizedOperation")
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web2}})
	wantOK(t, err)
	calls := e.callsOf("ec2:StopInstances")
	if len(calls) != 2 || calls[0].Status != 403 || calls[0].ResourceIDs[0] != web1 || calls[1].ErrorCode != "" {
		t.Errorf("calls %+v", calls)
	}
	if s := describeOne(t, c, web1).State.Name; s != types.InstanceStateNameRunning {
		t.Errorf("the failed stop changed web-1: %s", s)
	}
	e.emu.Faults().Fail("iam:UpdateAccessKey", "*", "AccessDenied", "no")
	_, err = iamClient(e).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(aliceKey), Status: "Inactive"})
	wantCode(t, err, "AccessDenied")
}

func TestLatencyHonoursCancellation(t *testing.T) {
	e := newEnv(t)
	e.emu.Faults().Latency("ec2:DescribeInstances", time.Hour)
	c := ec2.NewFromConfig(e.config("us-east-1", aliceKey, "", 1))
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := c.DescribeInstances(cctx, &ec2.DescribeInstancesInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	// The server notices the client went away and records the call.
	deadline := time.Now().Add(10 * time.Second)
	for len(e.callsOf("ec2:DescribeInstances")) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	calls := e.callsOf("ec2:DescribeInstances")
	if len(calls) != 1 || calls[0].ErrorCode != "RequestCanceled" {
		t.Errorf("calls %+v", calls)
	}
	e.emu.Faults().Latency("ec2:DescribeInstances", time.Millisecond)
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantOK(t, err)
}
