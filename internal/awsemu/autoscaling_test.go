package awsemu

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

func TestAutoScaling(t *testing.T) {
	e := newEnv(t)
	c := autoscaling.NewFromConfig(e.prod())
	out, err := c.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{web1, batch1}})
	wantOK(t, err)
	if len(out.AutoScalingInstances) != 1 {
		t.Fatalf("%d instances, want web-1 only (batch-1 is in no group)", len(out.AutoScalingInstances))
	}
	in := out.AutoScalingInstances[0]
	if *in.AutoScalingGroupName != "web-asg" || *in.LifecycleState != "InService" || *in.HealthStatus != "HEALTHY" || *in.AvailabilityZone != "us-east-1a" {
		t.Errorf("instance %+v", in)
	}

	// Desired 2, minimum 1: two instances cannot leave and take their capacity along.
	_, err = c.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: []string{web1, web2}, ShouldDecrementDesiredCapacity: aws.Bool(true)})
	wantCode(t, err, "ValidationError")

	// aws_autoscaling_detach: leave the group, let it replace the instance.
	det, err := c.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: []string{web1}, ShouldDecrementDesiredCapacity: aws.Bool(false)})
	wantOK(t, err)
	if len(det.Activities) != 1 || !strings.Contains(*det.Activities[0].Description, web1) || *det.Activities[0].Progress != 50 {
		t.Errorf("activities %+v", det.Activities)
	}
	g := e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].AutoScalingGroups["web-asg"]
	if g.DesiredCapacity != 2 || len(g.Activities) != 1 || *g.Activities[0].ShouldDecrementDesiredCapacity {
		t.Errorf("group after detach %+v", g)
	}
	out, err = c.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	if len(out.AutoScalingInstances) != 0 {
		t.Errorf("web-1 still in a group: %+v", out.AutoScalingInstances)
	}

	// Revert: attach it again; attaching twice changes nothing.
	for range 2 {
		_, err = c.AttachInstances(ctx, &autoscaling.AttachInstancesInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: []string{web1}})
		wantOK(t, err)
	}
	if g := e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].AutoScalingGroups["web-asg"]; g.DesiredCapacity != 3 {
		t.Errorf("desired capacity after attach %d", g.DesiredCapacity)
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown group", func() error {
			_, err := c.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String("nope"), InstanceIds: []string{web1}, ShouldDecrementDesiredCapacity: aws.Bool(false)})
			return err
		}, "ValidationError"},
		{"not a member", func() error {
			_, err := c.DetachInstances(ctx, &autoscaling.DetachInstancesInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: []string{batch1}, ShouldDecrementDesiredCapacity: aws.Bool(false)})
			return err
		}, "ValidationError"},
		{"attach a stopped instance", func() error {
			_, err := c.AttachInstances(ctx, &autoscaling.AttachInstancesInput{AutoScalingGroupName: aws.String("web-asg"), InstanceIds: []string{batch1}})
			return err
		}, "ValidationError"},
		{"bad token", func() error {
			_, err := c.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{NextToken: aws.String("x")})
			return err
		}, "InvalidNextToken"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	// ShouldDecrementDesiredCapacity is required; the SDK checks, and so does the emulator.
	status, body := e.raw("POST", "/", "autoscaling", aliceKey, nil, "Action=DetachInstances&Version=2011-01-01&AutoScalingGroupName=web-asg&InstanceIds.member.1="+web1)
	if status != 400 || !containsAll(body, "<Code>ValidationError</Code>", "shouldDecrementDesiredCapacity", "<Type>Sender</Type>") {
		t.Errorf("%d %s", status, body)
	}
}
