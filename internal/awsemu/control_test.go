package awsemu

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func TestMutators(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	wantOK(t, e.emu.SetInstanceState(web1, "stopped"))
	if s := describeOne(t, c, web1).State.Name; s != types.InstanceStateNameStopped {
		t.Errorf("state %s", s)
	}
	wantOK(t, e.emu.SetTags(web1Data, map[string]string{"owner": "someone"}))
	v, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{web1Data}})
	wantOK(t, err)
	if len(v.Volumes[0].Tags) != 1 || *v.Volumes[0].Tags[0].Key != "owner" {
		t.Errorf("tags %+v", v.Volumes[0].Tags)
	}
	wantOK(t, e.emu.SetAccessKeyStatus(malloryKey, "Inactive"))
	_, err = ec2.NewFromConfig(e.config("us-east-1", malloryKey, "", 1)).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	wantCode(t, err, "AuthFailure")
	finding := `{"id":"new1","type":"Recon:EC2/Portscan","severity":5,"createdAt":"2025-03-01T12:00:00Z","updatedAt":"2025-03-01T12:00:00Z","resource":{"instanceDetails":{"instanceId":"` + web2 + `"}}}`
	wantOK(t, e.emu.AddFinding(prodAccount, "us-east-1", detectorID, []byte(finding)))
	ids, err := guardduty.NewFromConfig(e.prod()).ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID)})
	wantOK(t, err)
	if len(ids.FindingIds) != 4 {
		t.Errorf("findings %v", ids.FindingIds)
	}
	e.emu.ResetCalls()
	if len(e.emu.Calls()) != 0 {
		t.Error("calls not reset")
	}

	bad := []struct {
		name string
		err  error
	}{
		{"state", e.emu.SetInstanceState(web1, "asleep")},
		{"instance", e.emu.SetInstanceState("i-0fffffffffffffff0", "running")},
		{"tags", e.emu.SetTags("i-0fffffffffffffff0", nil)},
		{"key status", e.emu.SetAccessKeyStatus(malloryKey, "Off")},
		{"key", e.emu.SetAccessKeyStatus("AKIAEMUNOSUCHKEY0001", "Active")},
		{"duplicate finding", e.emu.AddFinding(prodAccount, "us-east-1", detectorID, []byte(finding))},
		{"detector", e.emu.AddFinding(prodAccount, "us-west-2", detectorID, []byte(finding))},
		{"finding", e.emu.AddFinding(prodAccount, "us-east-1", detectorID, []byte(`{}`))},
		{"account", e.emu.AddFinding("999988887777", "us-east-1", detectorID, []byte(`{"id":"x","type":"t","severity":1,"createdAt":"2025-03-01T12:00:00Z","updatedAt":"2025-03-01T12:00:00Z"}`))},
	}
	for _, b := range bad {
		if b.err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
}

func TestListingPages(t *testing.T) {
	e := newEnv(t)
	i := iamClient(e)
	for n := range 3 {
		_, err := i.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("batch-role"), PolicyName: aws.String(fmt.Sprint("p", n)), PolicyDocument: aws.String(denyAll)})
		wantOK(t, err)
	}
	var names []string
	p := iam.NewListRolePoliciesPaginator(i, &iam.ListRolePoliciesInput{RoleName: aws.String("batch-role"), MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		wantOK(t, err)
		names = append(names, page.PolicyNames...)
	}
	if fmt.Sprint(names) != "[p0 p1 p2]" {
		t.Errorf("policies %v", names)
	}
	_, err := i.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("batch-role"), Marker: aws.String("bad")})
	wantCode(t, err, "ValidationError")
	_, err = i.ListAccessKeys(ctx, &iam.ListAccessKeysInput{MaxItems: aws.Int32(0)})
	wantCode(t, err, "ValidationError")

	big := newEnvSeed(t, bigFleet(7))
	asg := autoscaling.NewFromConfig(big.prod())
	out, err := asg.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{MaxRecords: aws.Int32(51)})
	wantCode(t, err, "ValidationError")
	_ = out

	tg := elbv2.NewFromConfig(e.prod())
	page, err := tg.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(1)})
	wantOK(t, err)
	if len(page.TargetGroups) != 1 || page.NextMarker != nil {
		t.Errorf("one target group, no marker: %+v", page)
	}
	_, err = tg.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Marker: aws.String("bad")})
	wantCode(t, err, "ValidationError")
	_, err = elb.NewFromConfig(e.prod()).DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(401)})
	wantCode(t, err, "ValidationError")

	gd := guardduty.NewFromConfig(e.prod())
	d, err := gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{MaxResults: aws.Int32(1)})
	wantOK(t, err)
	if len(d.DetectorIds) != 1 || d.NextToken != nil {
		t.Errorf("detectors %+v", d)
	}
	_, err = gd.ListDetectors(ctx, &guardduty.ListDetectorsInput{NextToken: aws.String("bad")})
	wantCode(t, err, "BadRequestException")
}

func TestModifyInterfaceOtherAttributes(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	mod := func(in ec2.ModifyNetworkInterfaceAttributeInput) error {
		in.NetworkInterfaceId = aws.String(web1ENI)
		_, err := c.ModifyNetworkInterfaceAttribute(ctx, &in)
		return err
	}
	out, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{web1ENI}})
	wantOK(t, err)
	attach := out.NetworkInterfaces[0].Attachment.AttachmentId
	wantOK(t, mod(ec2.ModifyNetworkInterfaceAttributeInput{Description: &types.AttributeValue{Value: aws.String("quarantined")}}))
	wantOK(t, mod(ec2.ModifyNetworkInterfaceAttributeInput{SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}}))
	wantOK(t, mod(ec2.ModifyNetworkInterfaceAttributeInput{Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: attach, DeleteOnTermination: aws.Bool(false)}}))
	out, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{web1ENI}})
	wantOK(t, err)
	n := out.NetworkInterfaces[0]
	if *n.Description != "quarantined" || *n.SourceDestCheck || *n.Attachment.DeleteOnTermination {
		t.Errorf("interface %+v", n)
	}
	wantCode(t, mod(ec2.ModifyNetworkInterfaceAttributeInput{Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String("eni-attach-0fffffffffffffff0"), DeleteOnTermination: aws.Bool(false)}}), "InvalidAttachmentID.NotFound")
	wantCode(t, mod(ec2.ModifyNetworkInterfaceAttributeInput{Description: &types.AttributeValue{Value: aws.String("x")}, Groups: []string{sgWeb}}), "InvalidParameterCombination")
}
