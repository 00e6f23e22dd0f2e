package awsemu

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func ec2Client(e *env) *ec2.Client { return ec2.NewFromConfig(e.prod()) }

func flt(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func describeOne(t *testing.T, c *ec2.Client, id string) types.Instance {
	t.Helper()
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	wantOK(t, err)
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances %s: got %d reservations", id, len(out.Reservations))
	}
	return out.Reservations[0].Instances[0]
}

func instanceIDs(out *ec2.DescribeInstancesOutput) []string {
	var ids []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			ids = append(ids, *in.InstanceId)
		}
	}
	return ids
}

func groupIDs(gs []types.GroupIdentifier) []string {
	var out []string
	for _, g := range gs {
		out = append(out, *g.GroupId)
	}
	return out
}

func TestDescribeInstancesDecodesEveryField(t *testing.T) {
	e := newEnv(t)
	in := describeOne(t, ec2Client(e), web1)
	checks := []struct {
		name      string
		got, want any
	}{
		{"state", in.State.Name, types.InstanceStateNameRunning},
		{"state code", *in.State.Code, int32(16)},
		{"type", in.InstanceType, types.InstanceTypeT3Small},
		{"image", *in.ImageId, "ami-0f3c7d07486cad139"},
		{"az", *in.Placement.AvailabilityZone, "us-east-1a"},
		{"vpc", *in.VpcId, "vpc-0a1b2c3d4e5f60001"},
		{"subnet", *in.SubnetId, "subnet-0a1b2c3d4e5f60011"},
		{"private ip", *in.PrivateIpAddress, "10.0.1.10"},
		{"private dns", *in.PrivateDnsName, "ip-10-0-1-10.ec2.internal"},
		{"public ip", *in.PublicIpAddress, "198.51.100.10"},
		{"public dns", *in.PublicDnsName, "ec2-198-51-100-10.compute-1.amazonaws.com"},
		{"groups", groupIDs(in.SecurityGroups), []string{sgWeb, sgApp}},
		{"group name", *in.SecurityGroups[0].GroupName, "web"},
		{"profile", *in.IamInstanceProfile.Arn, "arn:aws:iam::111122223333:instance-profile/web-profile"},
		{"profile id", *in.IamInstanceProfile.Id, "AIPAEMUWEBPROFILE001"},
		{"root device", *in.RootDeviceName, "/dev/xvda"},
		{"block devices", len(in.BlockDeviceMappings), 2},
		{"root volume", *in.BlockDeviceMappings[0].Ebs.VolumeId, web1Root},
		{"root delete on termination", *in.BlockDeviceMappings[0].Ebs.DeleteOnTermination, true},
		{"data delete on termination", *in.BlockDeviceMappings[1].Ebs.DeleteOnTermination, false},
		{"enis", len(in.NetworkInterfaces), 1},
		{"eni id", *in.NetworkInterfaces[0].NetworkInterfaceId, web1ENI},
		{"eni device index", *in.NetworkInterfaces[0].Attachment.DeviceIndex, int32(0)},
		{"eni groups", groupIDs(in.NetworkInterfaces[0].Groups), []string{sgWeb, sgApp}},
		{"eni public ip", *in.NetworkInterfaces[0].Association.PublicIp, "198.51.100.10"},
		{"launch time", in.LaunchTime.UTC().Format("2006-01-02T15:04:05Z"), "2025-01-02T08:00:00Z"},
		{"key", *in.KeyName, "ops"},
		{"tags", len(in.Tags), 2},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDescribeInstancesSelection(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	cases := []struct {
		name string
		in   ec2.DescribeInstancesInput
		want []string
		code string
	}{
		{"all", ec2.DescribeInstancesInput{}, []string{web1, web2, batch1, oldInstance}, ""},
		{"by ids", ec2.DescribeInstancesInput{InstanceIds: []string{web2, web1}}, []string{web1, web2}, ""},
		{"instance-id filter", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("instance-id", batch1)}}, []string{batch1}, ""},
		{"tag glob", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("tag:Name", "web-*")}}, []string{web1, web2}, ""},
		{"tags and state", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("tag:env", "prod"), flt("instance-state-name", "running")}}, []string{web1, web2}, ""},
		{"tag-key", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("tag-key", "env")}}, []string{web1, web2}, ""},
		{"group", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("instance.group-id", sgApp)}}, []string{web1, web2, batch1}, ""},
		{"eni", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("network-interface.network-interface-id", web2ENI)}}, []string{web2}, ""},
		{"no match", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("tag:Name", "nope")}}, nil, ""},
		{"not found", ec2.DescribeInstancesInput{InstanceIds: []string{"i-0fffffffffffffff0"}}, nil, "InvalidInstanceID.NotFound"},
		{"malformed", ec2.DescribeInstancesInput{InstanceIds: []string{"web-1"}}, nil, "InvalidInstanceID.Malformed"},
		{"unknown filter", ec2.DescribeInstancesInput{Filters: []types.Filter{flt("colour", "red")}}, nil, "InvalidParameterValue"},
		{"max results with ids", ec2.DescribeInstancesInput{InstanceIds: []string{web1}, MaxResults: aws.Int32(5)}, nil, "InvalidParameterCombination"},
		{"max results too small", ec2.DescribeInstancesInput{MaxResults: aws.Int32(3)}, nil, "InvalidParameterValue"},
		{"bad token", ec2.DescribeInstancesInput{NextToken: aws.String("garbage!")}, nil, "InvalidPaginationToken"},
		{"dry run", ec2.DescribeInstancesInput{DryRun: aws.Bool(true)}, nil, "DryRunOperation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeInstances(ctx, &tc.in)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			wantOK(t, err)
			if got := instanceIDs(out); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// bigFleet is a seed with n running instances in one subnet.
func bigFleet(n int) *Seed {
	region := SeedRegion{
		VPCs:           []SeedVPC{{ID: "vpc-0c1b2c3d4e5f60001", CIDR: "10.9.0.0/16"}},
		Subnets:        []SeedSubnet{{ID: "subnet-0c1b2c3d4e5f60011", VPC: "vpc-0c1b2c3d4e5f60001", CIDR: "10.9.0.0/20"}},
		SecurityGroups: []SeedSecurityGroup{{ID: "sg-0c1b2c3d4e5f60021", Name: "fleet", VPC: "vpc-0c1b2c3d4e5f60001"}},
	}
	for i := range n {
		region.Instances = append(region.Instances, SeedInstance{
			ID:                fmt.Sprintf("i-0c%015x", i),
			Tags:              map[string]string{"Name": fmt.Sprintf("node-%d", i)},
			NetworkInterfaces: []SeedENI{{Subnet: "subnet-0c1b2c3d4e5f60011", Groups: []string{"sg-0c1b2c3d4e5f60021"}}},
			Volumes:           []SeedVolume{{Device: "/dev/xvda"}},
			SSMManaged:        true,
		})
	}
	return &Seed{Accounts: []SeedAccount{{
		ID:      prodAccount,
		Users:   []SeedUser{{Name: "alice", AccessKeys: []SeedAccessKey{{ID: aliceKey}}}},
		Regions: map[string]SeedRegion{"us-east-1": region},
	}}}
}

func TestDescribePagination(t *testing.T) {
	seed := bigFleet(12)
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	e := newEnvSeed(t, seed)
	c := ec2Client(e)

	var pages, ids []string
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		wantOK(t, err)
		pages = append(pages, fmt.Sprint(len(instanceIDs(out))))
		ids = append(ids, instanceIDs(out)...)
	}
	if strings.Join(pages, ",") != "5,5,2" {
		t.Errorf("page sizes %v, want 5,5,2", pages)
	}
	if len(ids) != 12 || !sort.StringsAreSorted(ids) || len(slices.Compact(slices.Clone(ids))) != 12 {
		t.Errorf("got %d ids %v, want 12 distinct in order", len(ids), ids)
	}

	// Every other paginated listing pages the same way.
	var vols int
	vp := ec2.NewDescribeVolumesPaginator(c, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(5)})
	for vp.HasMorePages() {
		out, err := vp.NextPage(ctx)
		wantOK(t, err)
		vols += len(out.Volumes)
	}
	var enis int
	np := ec2.NewDescribeNetworkInterfacesPaginator(c, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
	for np.HasMorePages() {
		out, err := np.NextPage(ctx)
		wantOK(t, err)
		enis += len(out.NetworkInterfaces)
	}
	var tags int
	tp := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5)})
	for tp.HasMorePages() {
		out, err := tp.NextPage(ctx)
		wantOK(t, err)
		tags += len(out.Tags)
	}
	if vols != 12 || enis != 12 || tags != 12 {
		t.Errorf("paged %d volumes, %d interfaces, %d tags; want 12 of each", vols, enis, tags)
	}
}

func TestInstanceAttributes(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	get := func(id string, a types.InstanceAttributeName) (*ec2.DescribeInstanceAttributeOutput, error) {
		return c.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: aws.String(id), Attribute: a})
	}
	out, err := get(web1, types.InstanceAttributeNameDisableApiTermination)
	wantOK(t, err)
	if *out.DisableApiTermination.Value {
		t.Error("web-1 disableApiTermination: got true")
	}
	out, err = get(batch1, types.InstanceAttributeNameDisableApiTermination)
	wantOK(t, err)
	if !*out.DisableApiTermination.Value {
		t.Error("batch-1 disableApiTermination: got false")
	}
	out, err = get(web1, types.InstanceAttributeNameInstanceInitiatedShutdownBehavior)
	wantOK(t, err)
	if *out.InstanceInitiatedShutdownBehavior.Value != "stop" {
		t.Errorf("shutdown behavior %q", *out.InstanceInitiatedShutdownBehavior.Value)
	}
	out, err = get(web1, types.InstanceAttributeNameGroupSet)
	wantOK(t, err)
	if g := groupIDs(out.Groups); !slices.Equal(g, []string{sgWeb, sgApp}) {
		t.Errorf("groupSet %v", g)
	}
	out, err = get(web1, types.InstanceAttributeNameBlockDeviceMapping)
	wantOK(t, err)
	if len(out.BlockDeviceMappings) != 2 || *out.BlockDeviceMappings[1].DeviceName != "/dev/sdf" {
		t.Errorf("blockDeviceMapping %+v", out.BlockDeviceMappings)
	}

	errs := []struct {
		name string
		id   string
		attr types.InstanceAttributeName
		code string
	}{
		{"several interfaces", web2, types.InstanceAttributeNameGroupSet, "InvalidInstanceID"},
		{"unknown attribute", web1, "colour", "InvalidParameterValue"},
		{"unknown instance", "i-0fffffffffffffff0", types.InstanceAttributeNameGroupSet, "InvalidInstanceID.NotFound"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := get(tc.id, tc.attr)
			wantCode(t, err, tc.code)
		})
	}
}

func TestModifyInstanceAttribute(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	mod := func(in ec2.ModifyInstanceAttributeInput) error {
		_, err := c.ModifyInstanceAttribute(ctx, &in)
		return err
	}
	// The three changes of aws_ec2_termination_protection.
	wantOK(t, mod(ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	wantOK(t, mod(ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), InstanceInitiatedShutdownBehavior: &types.AttributeValue{Value: aws.String("terminate")}}))
	wantOK(t, mod(ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), BlockDeviceMappings: []types.InstanceBlockDeviceMappingSpecification{
		{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(false)}}}}))
	// The Attribute/Value form and instance-level groups.
	wantOK(t, mod(ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), Attribute: types.InstanceAttributeNameSourceDestCheck, Value: aws.String("false")}))
	wantOK(t, mod(ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), Groups: []string{sgIsolation}}))

	in := describeOne(t, c, web1)
	if *in.BlockDeviceMappings[0].Ebs.DeleteOnTermination {
		t.Error("root volume still deleted on termination")
	}
	if *in.SourceDestCheck {
		t.Error("source/dest check still on")
	}
	if g := groupIDs(in.SecurityGroups); !slices.Equal(g, []string{sgIsolation}) {
		t.Errorf("groups %v", g)
	}
	st := e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].Instances[web1]
	if !st.DisableAPITermination || st.ShutdownBehavior != "terminate" {
		t.Errorf("state %+v", st)
	}

	errs := []struct {
		name string
		in   ec2.ModifyInstanceAttributeInput
		code string
	}{
		{"bad behaviour", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), InstanceInitiatedShutdownBehavior: &types.AttributeValue{Value: aws.String("halt")}}, "InvalidParameterValue"},
		{"no device", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), BlockDeviceMappings: []types.InstanceBlockDeviceMappingSpecification{
			{DeviceName: aws.String("/dev/sdz"), Ebs: &types.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: aws.Bool(false)}}}}, "InvalidInstanceAttributeValue"},
		{"two attributes", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)},
			InstanceInitiatedShutdownBehavior: &types.AttributeValue{Value: aws.String("stop")}}, "InvalidParameterCombination"},
		{"nothing", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1)}, "MissingParameter"},
		{"terminated", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(oldInstance), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(true)}}, "IncorrectInstanceState"},
		{"groups, several interfaces", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web2), Groups: []string{sgIsolation}}, "InvalidInstanceID"},
		{"group of another VPC", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), Groups: []string{sgOtherVPC}}, "InvalidGroup.NotFound"},
		{"type while running", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), InstanceType: &types.AttributeValue{Value: aws.String("t3.large")}}, "IncorrectInstanceState"},
		{"dry run", ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(web1), DryRun: aws.Bool(true), DisableApiTermination: &types.AttributeBooleanValue{Value: aws.Bool(false)}}, "DryRunOperation"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, mod(tc.in), tc.code) })
	}
	// The dry run changed nothing.
	if !e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].Instances[web1].DisableAPITermination {
		t.Error("a dry run changed the instance")
	}
}

func TestNetworkInterfaces(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	out, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{flt("attachment.instance-id", web2)}})
	wantOK(t, err)
	if len(out.NetworkInterfaces) != 2 {
		t.Fatalf("web-2 has %d interfaces, want 2", len(out.NetworkInterfaces))
	}
	eni := out.NetworkInterfaces[1]
	if *eni.Attachment.InstanceId != web2 || *eni.Attachment.DeviceIndex != 1 || *eni.VpcId != "vpc-0a1b2c3d4e5f60001" || *eni.Description != "app traffic" {
		t.Errorf("interface %+v", eni)
	}

	// Isolation as aws_ec2_isolate does it: untrack group first, then the isolation group.
	for _, groups := range [][]string{{sgUntrack}, {sgIsolation}} {
		_, err = c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(web1ENI), Groups: groups})
		wantOK(t, err)
	}
	out, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{web1ENI}})
	wantOK(t, err)
	if g := groupIDs(out.NetworkInterfaces[0].Groups); !slices.Equal(g, []string{sgIsolation}) {
		t.Errorf("groups after isolation %v", g)
	}

	errs := []struct {
		name   string
		eni    string
		groups []string
		code   string
	}{
		{"group of another VPC", web1ENI, []string{sgOtherVPC}, "InvalidGroup.NotFound"},
		{"unknown group", web1ENI, []string{"sg-0fffffffffffffff0"}, "InvalidGroup.NotFound"},
		{"malformed group", web1ENI, []string{"isolation"}, "InvalidGroupId.Malformed"},
		{"unknown interface", "eni-0fffffffffffffff0", []string{sgIsolation}, "InvalidNetworkInterfaceID.NotFound"},
		{"malformed interface", "eni-x", []string{sgIsolation}, "InvalidNetworkInterfaceID.Malformed"},
		{"no attribute", web1ENI, nil, "MissingParameter"},
		{"too many groups", web1ENI, []string{sgWeb, sgApp, sgIsolation, sgUntrack, "sg-0a1b2c3d4e5f60021", sgOtherVPC}, "InvalidGroup.NotFound"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(tc.eni), Groups: tc.groups})
			wantCode(t, err, tc.code)
		})
	}
	_, err = c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-0fffffffffffffff0"}})
	wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
}

func TestSetNetworkInterfaceGroupsSimulatesDrift(t *testing.T) {
	e := newEnv(t)
	if err := e.emu.SetNetworkInterfaceGroups(web1ENI, []string{sgWeb}); err != nil {
		t.Fatal(err)
	}
	in := describeOne(t, ec2Client(e), web1)
	if g := groupIDs(in.NetworkInterfaces[0].Groups); !slices.Equal(g, []string{sgWeb}) {
		t.Errorf("groups %v", g)
	}
	if err := e.emu.SetNetworkInterfaceGroups(web1ENI, []string{sgOtherVPC}); err == nil {
		t.Error("a group of another VPC was accepted")
	}
	if err := e.emu.SetNetworkInterfaceGroups("eni-0fffffffffffffff0", []string{sgWeb}); err == nil {
		t.Error("an unknown interface was accepted")
	}
}

func TestSecurityGroups(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sgIsolation, sgUntrack, sgApp}})
	wantOK(t, err)
	byID := map[string]types.SecurityGroup{}
	for _, g := range out.SecurityGroups {
		byID[*g.GroupId] = g
	}
	if iso := byID[sgIsolation]; len(iso.IpPermissions) != 0 || len(iso.IpPermissionsEgress) != 0 || *iso.GroupName != "cordon-isolation" {
		t.Errorf("isolation group %+v", iso)
	}
	if un := byID[sgUntrack]; len(un.IpPermissions) != 1 || *un.IpPermissions[0].IpProtocol != "-1" || *un.IpPermissions[0].IpRanges[0].CidrIp != "0.0.0.0/0" {
		t.Errorf("untrack group %+v", un)
	}
	if app := byID[sgApp]; *app.IpPermissions[0].FromPort != 8080 || *app.IpPermissions[0].UserIdGroupPairs[0].GroupId != sgWeb ||
		*app.IpPermissionsEgress[0].IpRanges[0].CidrIp != "0.0.0.0/0" {
		t.Errorf("app group %+v", app)
	}
	out, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("tag:cordon:role", "isolation")}})
	wantOK(t, err)
	if len(out.SecurityGroups) != 1 || *out.SecurityGroups[0].GroupId != sgIsolation {
		t.Errorf("tag filter: %d groups", len(out.SecurityGroups))
	}
	out, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"web"}})
	wantOK(t, err)
	if len(out.SecurityGroups) != 1 || *out.SecurityGroups[0].GroupId != sgWeb {
		t.Errorf("by name: %+v", out.SecurityGroups)
	}
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0fffffffffffffff0"}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"nope"}})
	wantCode(t, err, "InvalidGroup.NotFound")
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{web1, web1Root}, Tags: []types.Tag{tag("cordon:incident", "inc-1"), tag("env", "quarantine")}})
	wantOK(t, err)
	out, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{flt("resource-id", web1Root)}})
	wantOK(t, err)
	if len(out.Tags) != 2 || *out.Tags[0].Key != "cordon:incident" || out.Tags[0].ResourceType != types.ResourceTypeVolume {
		t.Errorf("volume tags %+v", out.Tags)
	}
	out, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{flt("key", "cordon:incident")}})
	wantOK(t, err)
	if len(out.Tags) != 2 {
		t.Errorf("%d resources carry the incident tag, want 2", len(out.Tags))
	}
	// A value that does not match keeps the tag; no value deletes it.
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{web1}, Tags: []types.Tag{tag("env", "prod")}})
	wantOK(t, err)
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{web1}, Tags: []types.Tag{{Key: aws.String("cordon:incident")}}})
	wantOK(t, err)
	in := describeOne(t, c, web1)
	got := map[string]string{}
	for _, t := range in.Tags {
		got[*t.Key] = *t.Value
	}
	if fmt.Sprint(got) != "map[Name:web-1 env:quarantine]" {
		t.Errorf("tags after delete %v", got)
	}

	errs := []struct {
		name string
		ids  []string
		tags []types.Tag
		code string
	}{
		{"reserved key", []string{web1}, []types.Tag{tag("aws:owner", "x")}, "InvalidParameterValue"},
		{"unknown instance", []string{"i-0fffffffffffffff0"}, []types.Tag{tag("a", "b")}, "InvalidInstanceID.NotFound"},
		{"unknown volume", []string{"vol-0fffffffffffffff0"}, []types.Tag{tag("a", "b")}, "InvalidVolume.NotFound"},
		{"unknown kind", []string{"ami-0fffffffffffffff0"}, []types.Tag{tag("a", "b")}, "InvalidID"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: tc.ids, Tags: tc.tags})
			wantCode(t, err, tc.code)
		})
	}
	_, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{flt("colour", "red")}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{"snap-0fffffffffffffff0"}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	many := make([]types.Tag, 49)
	for i := range many {
		many[i] = tag(fmt.Sprintf("k%d", i), "v")
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{web1}, Tags: many})
	wantCode(t, err, "TagLimitExceeded")
}

func TestVolumes(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	out, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{flt("attachment.instance-id", web1)}})
	wantOK(t, err)
	if len(out.Volumes) != 2 {
		t.Fatalf("web-1 has %d volumes, want 2", len(out.Volumes))
	}
	data := out.Volumes[1]
	if *data.VolumeId != web1Data || *data.Size != 100 || !*data.Encrypted || data.VolumeType != types.VolumeTypeGp3 ||
		*data.Attachments[0].Device != "/dev/sdf" || data.State != types.VolumeStateInUse || *data.Iops != 3000 {
		t.Errorf("data volume %+v", data)
	}
	out, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{flt("tag:data", "customer")}})
	wantOK(t, err)
	if len(out.Volumes) != 1 {
		t.Errorf("tag filter: %d volumes", len(out.Volumes))
	}
	_, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{web1Root, "vol-0fffffffffffffff0"}})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"volume"}})
	wantCode(t, err, "InvalidVolumeID.Malformed")
}

var snapshotIDRE = regexp.MustCompile(`^snap-0[0-9a-f]{16}$`)

func TestSnapshots(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	incident := types.TagSpecification{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("cordon:incident"), Value: aws.String("inc-7")}}}

	one, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(web1Root), Description: aws.String("evidence"), TagSpecifications: []types.TagSpecification{incident}})
	wantOK(t, err)
	if !snapshotIDRE.MatchString(*one.SnapshotId) || one.State != types.SnapshotStatePending || *one.VolumeSize != 8 || *one.OwnerId != prodAccount || len(one.Tags) != 1 {
		t.Errorf("CreateSnapshot %+v", one)
	}

	many, err := c.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{
		InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(web1), ExcludeBootVolume: aws.Bool(true)},
		CopyTagsFromSource:    types.CopyTagsFromSourceVolume, TagSpecifications: []types.TagSpecification{incident},
	})
	wantOK(t, err)
	if len(many.Snapshots) != 1 || *many.Snapshots[0].VolumeId != web1Data || len(many.Snapshots[0].Tags) != 2 {
		t.Fatalf("CreateSnapshots %+v", many.Snapshots)
	}

	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []types.Filter{flt("tag:cordon:incident", "inc-7")}})
	wantOK(t, err)
	if len(out.Snapshots) != 2 {
		t.Fatalf("%d snapshots carry the incident tag, want 2", len(out.Snapshots))
	}
	for _, s := range out.Snapshots {
		if s.State != types.SnapshotStateCompleted || *s.Progress != "100%" {
			t.Errorf("snapshot %s is %s %s", *s.SnapshotId, s.State, *s.Progress)
		}
	}
	out, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{Filters: []types.Filter{flt("volume-id", web1Data)}})
	wantOK(t, err)
	if len(out.Snapshots) != 1 || out.Snapshots[0].Tags == nil {
		t.Errorf("volume-id filter %+v", out.Snapshots)
	}
	out, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"999988887777"}})
	wantOK(t, err)
	if len(out.Snapshots) != 0 {
		t.Errorf("another owner's snapshots: %d", len(out.Snapshots))
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown volume", func() error {
			_, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String("vol-0fffffffffffffff0")})
			return err
		}, "InvalidVolume.NotFound"},
		{"tags for the wrong type", func() error {
			_, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(web1Root), TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: incident.Tags}}})
			return err
		}, "InvalidParameterValue"},
		{"unknown snapshot", func() error {
			_, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{"snap-0fffffffffffffff0"}})
			return err
		}, "InvalidSnapshot.NotFound"},
		{"terminated instance", func() error {
			_, err := c.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(oldInstance)}})
			return err
		}, "IncorrectInstanceState"},
		{"everything excluded", func() error {
			_, err := c.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(web2), ExcludeBootVolume: aws.Bool(true)}})
			return err
		}, "InvalidParameterValue"},
		{"root volume excluded as a data volume", func() error {
			_, err := c.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(web1), ExcludeDataVolumeIds: []string{web1Root}}})
			return err
		}, "InvalidParameterValue"},
		{"volume of another instance excluded", func() error {
			_, err := c.CreateSnapshots(ctx, &ec2.CreateSnapshotsInput{InstanceSpecification: &types.InstanceSpecification{InstanceId: aws.String(web2), ExcludeDataVolumeIds: []string{web1Data}}})
			return err
		}, "InvalidParameterValue"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func TestSnapshotIDsAreDeterministic(t *testing.T) {
	run := func() []string {
		e := newEnv(t)
		c := ec2Client(e)
		var ids []string
		for range 2 {
			out, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(web1Root)})
			wantOK(t, err)
			ids = append(ids, *out.SnapshotId)
		}
		return ids
	}
	a, b := run(), run()
	if !slices.Equal(a, b) || a[0] == a[1] {
		t.Errorf("runs gave %v and %v; want the same two distinct ids", a, b)
	}
}

func TestSnapshotDelay(t *testing.T) {
	seed, err := LoadSeed("testdata/fleet.json")
	wantOK(t, err)
	seed.Options.SnapshotDelayCalls = 2
	e := newEnvSeed(t, seed)
	c := ec2Client(e)
	s, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(web1Root)})
	wantOK(t, err)
	var states []string
	for range 3 {
		out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*s.SnapshotId}})
		wantOK(t, err)
		states = append(states, string(out.Snapshots[0].State))
	}
	if strings.Join(states, ",") != "pending,pending,completed" {
		t.Errorf("states %v", states)
	}
}

func TestStopStart(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	stop, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	ch := stop.StoppingInstances[0]
	if ch.CurrentState.Name != types.InstanceStateNameStopping || ch.PreviousState.Name != types.InstanceStateNameRunning || *ch.CurrentState.Code != 64 {
		t.Errorf("stop change %+v %+v", ch.CurrentState, ch.PreviousState)
	}
	if s := describeOne(t, c, web1).State.Name; s != types.InstanceStateNameStopped {
		t.Errorf("after stop: %s", s)
	}
	// Stopping a stopped instance is a no-op, as in EC2.
	stop, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	if stop.StoppingInstances[0].CurrentState.Name != types.InstanceStateNameStopped {
		t.Errorf("second stop %+v", stop.StoppingInstances[0].CurrentState)
	}
	start, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	if start.StartingInstances[0].CurrentState.Name != types.InstanceStateNamePending {
		t.Errorf("start %+v", start.StartingInstances[0].CurrentState)
	}
	if s := describeOne(t, c, web1).State.Name; s != types.InstanceStateNameRunning {
		t.Errorf("after start: %s", s)
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"stop terminated", func() error {
			_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{oldInstance}})
			return err
		}, "IncorrectInstanceState"},
		{"start terminated", func() error {
			_, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{oldInstance}})
			return err
		}, "IncorrectInstanceState"},
		{"stop unknown", func() error {
			_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web2, "i-0fffffffffffffff0"}})
			return err
		}, "InvalidInstanceID.NotFound"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	// A failed stop of several instances stops none of them.
	if s := describeOne(t, c, web2).State.Name; s != types.InstanceStateNameRunning {
		t.Errorf("web-2 after a failed batch stop: %s", s)
	}
}

func TestStopTransitionDelay(t *testing.T) {
	seed, err := LoadSeed("testdata/fleet.json")
	wantOK(t, err)
	seed.Options.TransitionDelayCalls = 2
	e := newEnvSeed(t, seed)
	c := ec2Client(e)
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	var states []string
	for range 3 {
		states = append(states, string(describeOne(t, c, web1).State.Name))
	}
	// Each DescribeInstances the server answers advances the transition.
	if got := strings.Join(states, ","); got != "stopping,stopping,stopped" {
		t.Errorf("states %v, want stopping, stopping, stopped", states)
	}
	if served := len(e.callsOf("ec2:DescribeInstances")); served != 3 {
		t.Errorf("%d DescribeInstances calls served, want 3 (no retries)", served)
	}
	// The SDK's own waiter sees it stopped.
	_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err)
	_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{web1}})
	wantOK(t, err) // pending → pending is allowed
	w := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = 1, 1 })
	wantOK(t, w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{web1}}, 60e9))
}

func TestInstanceProfileAssociations(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	desc := func() []types.IamInstanceProfileAssociation {
		out, err := c.DescribeIamInstanceProfileAssociations(ctx, &ec2.DescribeIamInstanceProfileAssociationsInput{Filters: []types.Filter{flt("instance-id", web1)}})
		wantOK(t, err)
		return out.IamInstanceProfileAssociations
	}
	as := desc()
	if len(as) != 1 || *as[0].IamInstanceProfile.Arn != "arn:aws:iam::111122223333:instance-profile/web-profile" || as[0].State != types.IamInstanceProfileAssociationStateAssociated {
		t.Fatalf("associations %+v", as)
	}
	assoc := *as[0].AssociationId

	rep, err := c.ReplaceIamInstanceProfileAssociation(ctx, &ec2.ReplaceIamInstanceProfileAssociationInput{AssociationId: aws.String(assoc),
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String("quarantine-profile")}})
	wantOK(t, err)
	if *rep.IamInstanceProfileAssociation.AssociationId == assoc || *rep.IamInstanceProfileAssociation.IamInstanceProfile.Arn != "arn:aws:iam::111122223333:instance-profile/quarantine-profile" {
		t.Errorf("replace %+v", rep.IamInstanceProfileAssociation)
	}
	dis, err := c.DisassociateIamInstanceProfile(ctx, &ec2.DisassociateIamInstanceProfileInput{AssociationId: rep.IamInstanceProfileAssociation.AssociationId})
	wantOK(t, err)
	if dis.IamInstanceProfileAssociation.State != types.IamInstanceProfileAssociationStateDisassociating {
		t.Errorf("disassociate state %s", dis.IamInstanceProfileAssociation.State)
	}
	if as := desc(); len(as) != 0 {
		t.Errorf("after disassociation: %+v", as)
	}
	if in := describeOne(t, c, web1); in.IamInstanceProfile != nil {
		t.Errorf("instance still has %+v", in.IamInstanceProfile)
	}
	assocOut, err := c.AssociateIamInstanceProfile(ctx, &ec2.AssociateIamInstanceProfileInput{InstanceId: aws.String(web1),
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Arn: aws.String("arn:aws:iam::111122223333:instance-profile/web-profile")}})
	wantOK(t, err)
	if assocOut.IamInstanceProfileAssociation.State != types.IamInstanceProfileAssociationStateAssociating {
		t.Errorf("associate state %s", assocOut.IamInstanceProfileAssociation.State)
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"already associated", func() error {
			_, err := c.AssociateIamInstanceProfile(ctx, &ec2.AssociateIamInstanceProfileInput{InstanceId: aws.String(web1), IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String("batch-profile")}})
			return err
		}, "IncorrectState"},
		{"unknown profile", func() error {
			_, err := c.AssociateIamInstanceProfile(ctx, &ec2.AssociateIamInstanceProfileInput{InstanceId: aws.String(batch1), IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String("nope")}})
			return err
		}, "InvalidParameterValue"},
		{"unknown association", func() error {
			_, err := c.DisassociateIamInstanceProfile(ctx, &ec2.DisassociateIamInstanceProfileInput{AssociationId: aws.String("iip-assoc-0fffffffffffffff0")})
			return err
		}, "InvalidAssociationID.NotFound"},
		{"describe unknown association", func() error {
			_, err := c.DescribeIamInstanceProfileAssociations(ctx, &ec2.DescribeIamInstanceProfileAssociationsInput{AssociationIds: []string{"iip-assoc-0fffffffffffffff0"}})
			return err
		}, "InvalidAssociationID.NotFound"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func TestConsole(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	out, err := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(web1), Latest: aws.Bool(true)})
	wantOK(t, err)
	text, err := base64.StdEncoding.DecodeString(*out.Output)
	wantOK(t, err)
	if !containsAll(string(text), "Linux version", "ip-10-0-1-10 login:") {
		t.Errorf("console output:\n%s", text)
	}
	shot, err := c.GetConsoleScreenshot(ctx, &ec2.GetConsoleScreenshotInput{InstanceId: aws.String(web1)})
	wantOK(t, err)
	img, err := base64.StdEncoding.DecodeString(*shot.ImageData)
	wantOK(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width == 0 {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	other, err := c.GetConsoleScreenshot(ctx, &ec2.GetConsoleScreenshotInput{InstanceId: aws.String(web2)})
	wantOK(t, err)
	if *other.ImageData == *shot.ImageData {
		t.Error("two instances have the same screenshot")
	}
	_, err = c.GetConsoleScreenshot(ctx, &ec2.GetConsoleScreenshotInput{InstanceId: aws.String(batch1)})
	wantCode(t, err, "IncorrectInstanceState")
	_, err = c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String("i-0fffffffffffffff0")})
	wantCode(t, err, "InvalidInstanceID.NotFound")
}

// TestConsoleScreenshotBareMetal: a bare metal instance has no virtual
// display; EC2 refuses the screenshot but still serves the console output.
func TestConsoleScreenshotBareMetal(t *testing.T) {
	seed, err := LoadSeed("testdata/fleet.json")
	wantOK(t, err)
	seed.Accounts[1].Regions["us-east-1"].Instances[0].Type = "c5.metal"
	wantOK(t, seed.Validate())
	c := ec2Client(newEnvSeed(t, seed))
	_, err = c.GetConsoleScreenshot(ctx, &ec2.GetConsoleScreenshotInput{InstanceId: aws.String(web1)})
	wantCode(t, err, "UnsupportedOperation")
	if err != nil && !strings.Contains(err.Error(), "c5.metal") {
		t.Errorf("error does not name the instance type: %v", err)
	}
	_, err = c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(web1)})
	wantOK(t, err)
}
