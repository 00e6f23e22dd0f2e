package awsemu

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const prodVPC = "vpc-0a1b2c3d4e5f60001"

func isolationTags() []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
		Tags: []ec2types.Tag{{Key: aws.String("cordon:isolation"), Value: aws.String("true")}}}}
}

// A new VPC group has EC2's allow-all egress rule and no ingress, carries
// the tags it was created with, and is found by tag, VPC and name.
func TestCreateSecurityGroup(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("cordon-isolation-2"),
		Description: aws.String("no traffic"), VpcId: aws.String(prodVPC), TagSpecifications: isolationTags()})
	wantOK(t, err)
	id := aws.ToString(out.GroupId)
	if !sgRE.MatchString(id) || len(out.Tags) != 1 || aws.ToString(out.SecurityGroupArn) != "arn:aws:ec2:us-east-1:"+prodAccount+":security-group/"+id {
		t.Fatalf("created %+v", out)
	}
	g := e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].SecurityGroups[id]
	if len(g.Ingress) != 0 || len(g.Egress) != 1 || g.Egress[0].Protocol != "-1" || !slices.Equal(g.Egress[0].CIDRs, []string{"0.0.0.0/0"}) {
		t.Errorf("rules of a new group: in %+v out %+v", g.Ingress, g.Egress)
	}

	found, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{prodVPC}},
		{Name: aws.String("tag:cordon:isolation"), Values: []string{"true"}},
	}})
	wantOK(t, err)
	if len(found.SecurityGroups) != 1 || aws.ToString(found.SecurityGroups[0].GroupId) != id {
		t.Errorf("found by tag: %+v", found.SecurityGroups)
	}
	byName, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("group-name"), Values: []string{"cordon-isolation-2"}}, {Name: aws.String("vpc-id"), Values: []string{"vpc-0b1b2c3d4e5f60001"}},
	}})
	wantOK(t, err)
	if len(byName.SecurityGroups) != 0 {
		t.Errorf("a group of another VPC matched: %+v", byName.SecurityGroups)
	}

	// Tagging at creation is authorized as ec2:CreateTags with
	// ec2:CreateAction, besides ec2:CreateSecurityGroup on the group and
	// the VPC.
	calls := e.callsOf("ec2:CreateSecurityGroup")
	var got []string
	for _, az := range calls[0].Authorizations {
		got = append(got, az.Action+" "+az.Resource+" "+first(az.Context["ec2:createaction"])+first(az.Context["aws:requesttag/cordon:isolation"]))
	}
	want := []string{
		"ec2:CreateSecurityGroup arn:aws:ec2:us-east-1:" + prodAccount + ":security-group/* true",
		"ec2:CreateSecurityGroup arn:aws:ec2:us-east-1:" + prodAccount + ":vpc/" + prodVPC + " true",
		"ec2:CreateTags arn:aws:ec2:us-east-1:" + prodAccount + ":security-group/* CreateSecurityGrouptrue",
	}
	if !slices.Equal(got, want) {
		t.Errorf("authorizations\n got %q\nwant %q", got, want)
	}
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

func TestCreateSecurityGroupErrors(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	cases := []struct {
		name, group, vpc, code string
	}{
		{"duplicate name in the VPC", "cordon-isolation", prodVPC, "InvalidGroup.Duplicate"},
		{"unknown VPC", "x", "vpc-0a1b2c3d4e5f69999", "InvalidVpcID.NotFound"},
		{"malformed VPC", "x", "vpc-zzz", "InvalidVpcID.Malformed"},
		{"no VPC", "x", "", "VPCIdNotSpecified"},
		{"name like an id", "sg-123", prodVPC, "InvalidParameterValue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(tc.group), Description: aws.String("d")}
			if tc.vpc != "" {
				in.VpcId = aws.String(tc.vpc)
			}
			_, err := c.CreateSecurityGroup(ctx, in)
			wantCode(t, err, tc.code)
		})
	}
	// The same name in another VPC is another group.
	_, err := ec2.NewFromConfig(e.config("us-west-2", aliceKey, "", 1)).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cordon-isolation"), Description: aws.String("d"), VpcId: aws.String("vpc-0b1b2c3d4e5f60001")})
	wantOK(t, err)
}

// Rules are added and revoked one peer at a time; adding one the group
// has is InvalidPermission.Duplicate, revoking one it has not answers
// false with the rule in unknownIpPermissionSet.
func TestSecurityGroupRules(t *testing.T) {
	e := newEnv(t)
	c := ec2Client(e)
	out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d"), VpcId: aws.String(prodVPC)})
	wantOK(t, err)
	id := out.GroupId
	all := []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}

	rev, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: id, IpPermissions: all})
	wantOK(t, err)
	if !aws.ToBool(rev.Return) || len(rev.UnknownIpPermissions) != 0 {
		t.Errorf("revoke: %+v", rev)
	}
	rev, err = c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: id, IpPermissions: all})
	wantOK(t, err)
	if aws.ToBool(rev.Return) || len(rev.UnknownIpPermissions) != 1 {
		t.Errorf("revoking a rule the group has not: %+v", rev)
	}

	v6 := []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
		Ipv6Ranges: []ec2types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: id, IpPermissions: v6})
	wantOK(t, err)
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: id, IpPermissions: v6})
	wantCode(t, err, "InvalidPermission.Duplicate")
	_, err = c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: id,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
	wantCode(t, err, "InvalidParameterValue") // TCP without ports
	_, err = c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String("sg-0a1b2c3d4e5f69999"), IpPermissions: v6})
	wantCode(t, err, "InvalidGroup.NotFound")

	d, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(id)}})
	wantOK(t, err)
	g := d.SecurityGroups[0]
	if len(g.IpPermissionsEgress) != 0 || len(g.IpPermissions) != 1 || len(g.IpPermissions[0].IpRanges) != 1 || len(g.IpPermissions[0].Ipv6Ranges) != 1 {
		t.Errorf("rules: in %+v out %+v", g.IpPermissions, g.IpPermissionsEgress)
	}
}
