package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// The groups aws_ec2_isolate moves interfaces to. A security group
// belongs to one VPC of one account, so one configured group cannot
// isolate a fleet that spans VPCs or accounts: unless the configuration
// names the groups (security_group_id, or security_group_ids per VPC),
// cordon keeps one isolation group per VPC itself, found by its tag and
// created the first time a VPC needs it, and likewise an untrack group
// when untracking is asked for.

// IsolationTagKey tags the groups cordon creates for isolation: "true"
// on the isolation group (no rule at all), "untrack" on the untrack
// group (all traffic in and out).
const IsolationTagKey = "cordon:isolation"

// groupRole is what a group is for.
type groupRole struct {
	// name is the group's name in every VPC, tag its IsolationTagKey value.
	name, tag string
	// attr is the attribute that names the group, for messages.
	attr string
	// description is the group's description.
	description string
}

var (
	isolationRole = groupRole{name: "cordon-isolation", tag: "true", attr: "security_group_id",
		description: "cordon: no traffic in or out, for instances under investigation"}
	untrackRole = groupRole{name: "cordon-untrack", tag: "untrack", attr: "untrack_security_group_id",
		description: "cordon: all traffic in and out, so that isolation cuts tracked connections"}
)

// groupChoice says how the group of a role is chosen in a VPC: the one
// configured group, the configured group of the VPC, or (neither) the
// group cordon manages there.
type groupChoice struct {
	role   groupRole
	fixed  string
	perVPC map[string]string
}

func (c groupChoice) managed() bool { return c.fixed == "" && c.perVPC == nil }

// vpcGroup is a resolved group; id is empty when cordon manages the
// group and the VPC has none yet.
type vpcGroup struct {
	id      string
	created bool // by this apply
}

// groupResolver resolves groups once per apply, per VPC.
type groupResolver struct {
	env    *Env
	client *ec2.Client
	target string // instance id, for messages
	cache  map[string]vpcGroup
}

func newGroupResolver(env *Env, client *ec2.Client, target string) *groupResolver {
	return &groupResolver{env: env, client: client, target: target, cache: map[string]vpcGroup{}}
}

// find returns the group of c in vpc without creating one; ok is false
// when cordon manages the group and the VPC has none yet.
func (gr *groupResolver) find(ctx context.Context, c groupChoice, vpc string) (g vpcGroup, ok bool, err error) {
	key := c.role.tag + "/" + vpc
	if g, ok := gr.cache[key]; ok {
		return g, g.id != "", nil
	}
	switch {
	case c.fixed != "":
		g = vpcGroup{id: c.fixed}
	case c.perVPC != nil:
		id, found := c.perVPC[vpc]
		if !found {
			return vpcGroup{}, false, fmt.Errorf("%ss has no group for %s, the VPC of an interface of %s; %s was not isolated",
				c.role.attr, vpc, gr.target, gr.target)
		}
		g = vpcGroup{id: id}
	default:
		sg, found, err := gr.lookup(ctx, c.role, vpc)
		if err != nil {
			return vpcGroup{}, false, err
		}
		if !found {
			gr.cache[key] = vpcGroup{} // get creates it without looking again
			return vpcGroup{}, false, nil
		}
		if err := gr.ensureRules(ctx, c.role, sg); err != nil {
			return vpcGroup{}, false, err
		}
		g = vpcGroup{id: aws.ToString(sg.GroupId)}
	}
	gr.cache[key] = g
	return g, true, nil
}

// get returns the group of c in vpc, creating cordon's group there when
// it has none.
func (gr *groupResolver) get(ctx context.Context, c groupChoice, vpc string) (vpcGroup, error) {
	if g, ok, err := gr.find(ctx, c, vpc); err != nil || ok {
		return g, err
	}
	sg, created, err := gr.create(ctx, c.role, vpc)
	if err != nil {
		return vpcGroup{}, err
	}
	if err := gr.ensureRules(ctx, c.role, sg); err != nil {
		return vpcGroup{}, err
	}
	g := vpcGroup{id: aws.ToString(sg.GroupId), created: created}
	gr.cache[c.role.tag+"/"+vpc] = g
	return g, nil
}

// lookup finds cordon's group of role in vpc: by its tag, else by its
// name (a group of that name made by hand, or one whose tag is not yet
// visible).
func (gr *groupResolver) lookup(ctx context.Context, role groupRole, vpc string) (ec2types.SecurityGroup, bool, error) {
	for _, by := range [][]ec2types.Filter{
		{{Name: aws.String("tag:" + IsolationTagKey), Values: []string{role.tag}}},
		{{Name: aws.String("group-name"), Values: []string{role.name}}},
	} {
		out, err := gr.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
			Filters: append([]ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}, by...),
		})
		if err != nil {
			return ec2types.SecurityGroup{}, false, fmt.Errorf("looking for the %s group of %s: %w", role.name, vpc, err)
		}
		if len(out.SecurityGroups) == 0 {
			continue
		}
		// Prefer the group of cordon's name, then the oldest id, so
		// that every apply picks the same one.
		groups := out.SecurityGroups
		sort.Slice(groups, func(i, j int) bool {
			ni, nj := aws.ToString(groups[i].GroupName) == role.name, aws.ToString(groups[j].GroupName) == role.name
			if ni != nj {
				return ni
			}
			return aws.ToString(groups[i].GroupId) < aws.ToString(groups[j].GroupId)
		})
		return groups[0], true, nil
	}
	return ec2types.SecurityGroup{}, false, nil
}

// create makes cordon's group of role in vpc, tagged as it is created so
// that it is never seen untagged. Two applies creating it at once in one
// VPC race on the name: the loser's InvalidGroup.Duplicate sends it to
// find the winner's group.
func (gr *groupResolver) create(ctx context.Context, role groupRole, vpc string) (ec2types.SecurityGroup, bool, error) {
	out, err := gr.client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(role.name), Description: aws.String(role.description), VpcId: aws.String(vpc),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: []ec2types.Tag{
			{Key: aws.String(IsolationTagKey), Value: aws.String(role.tag)}, {Key: aws.String("Name"), Value: aws.String(role.name)},
		}}},
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidGroup.Duplicate" {
		sg, found, lerr := gr.lookup(ctx, role, vpc)
		if lerr != nil {
			return ec2types.SecurityGroup{}, false, lerr
		}
		if !found {
			return ec2types.SecurityGroup{}, false, fmt.Errorf("creating the %s group of %s: %w, yet no such group is found", role.name, vpc, err)
		}
		ec2Debugf(gr.env, "%s: %s already has %s %s (another apply made it)", gr.target, vpc, role.name, aws.ToString(sg.GroupId))
		return sg, false, nil
	}
	if err != nil {
		return ec2types.SecurityGroup{}, false, fmt.Errorf("creating the %s group of %s: %w", role.name, vpc, err)
	}
	id := aws.ToString(out.GroupId)
	ec2Debugf(gr.env, "%s: created %s %s in %s", gr.target, role.name, id, vpc)
	// Read it back for its rules: EC2 gives a new group an allow-all
	// egress rule.
	d, err := gr.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil || len(d.SecurityGroups) != 1 {
		if err == nil {
			err = errors.New("it is not found")
		}
		return ec2types.SecurityGroup{}, true, fmt.Errorf("reading the new %s group %s of %s: %w", role.name, id, vpc, err)
	}
	return d.SecurityGroups[0], true, nil
}

var (
	allIPv4 = "0.0.0.0/0"
	allIPv6 = "::/0"
)

// ensureRules makes a group cordon manages do what its role says, and
// refuses one that does not and that cordon may not change:
//
//   - The isolation group must have no rule. cordon revokes the egress
//     rules of a group it tagged (EC2's allow-all rule of a new group,
//     which the apply that created it may not have revoked yet), and
//     refuses a group with any ingress, or an untagged one with any rule:
//     an instance is never "isolated" into a group that lets traffic
//     through.
//   - The untrack group must allow all traffic in and out, or
//     connections stay tracked: cordon adds what its own group lacks (for
//     IPv4 and IPv6), and refuses an untagged group that does not allow
//     all IPv4 traffic both ways.
func (gr *groupResolver) ensureRules(ctx context.Context, role groupRole, sg ec2types.SecurityGroup) error {
	id, vpc := aws.ToString(sg.GroupId), aws.ToString(sg.VpcId)
	ours := slices.ContainsFunc(sg.Tags, func(t ec2types.Tag) bool {
		return aws.ToString(t.Key) == IsolationTagKey && aws.ToString(t.Value) == role.tag
	})
	what := fmt.Sprintf("%s group %s (%s) of %s", role.name, id, aws.ToString(sg.GroupName), vpc)
	if role == isolationRole {
		switch {
		case len(sg.IpPermissions) > 0:
			return fmt.Errorf("%s lets traffic in (%s); remove its inbound rules; %s was not isolated", what, describePerms(sg.IpPermissions), gr.target)
		case len(sg.IpPermissionsEgress) > 0 && !ours:
			return fmt.Errorf("%s lets traffic out (%s) and is not tagged %s = %q, so cordon leaves it alone; remove its outbound rules; %s was not isolated",
				what, describePerms(sg.IpPermissionsEgress), IsolationTagKey, role.tag, gr.target)
		case len(sg.IpPermissionsEgress) > 0:
			_, err := gr.client.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: sg.GroupId, IpPermissions: sg.IpPermissionsEgress})
			if err != nil {
				return fmt.Errorf("revoking the outbound rules of %s: %w; %s was not isolated", what, err, gr.target)
			}
			ec2Debugf(gr.env, "%s: revoked the outbound rules of %s (%s)", gr.target, id, describePerms(sg.IpPermissionsEgress))
		}
		return nil
	}
	missingIn, missingOut := missingAllTraffic(sg.IpPermissions), missingAllTraffic(sg.IpPermissionsEgress)
	if len(missingIn)+len(missingOut) == 0 {
		return nil
	}
	if !ours && !slices.Contains(missingIn, allIPv4) && !slices.Contains(missingOut, allIPv4) {
		// A group made by hand for IPv4 alone untracks IPv4 flows,
		// which is what it was made for.
		ec2Debugf(gr.env, "%s: %s does not allow all IPv6 traffic; IPv6 connections stay tracked", gr.target, what)
		return nil
	}
	if !ours {
		return fmt.Errorf("%s does not allow all traffic in and out (it lacks %s), and is not tagged %s = %q, so cordon leaves it alone; connections of %s would stay tracked",
			what, strings.Join(append(prefixed("inbound ", missingIn), prefixed("outbound ", missingOut)...), ", "), IsolationTagKey, role.tag, gr.target)
	}
	if len(missingIn) > 0 {
		_, err := gr.client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: allTraffic(missingIn)})
		if err != nil && !isDuplicateRule(err) {
			return fmt.Errorf("opening %s inbound: %w", what, err)
		}
	}
	if len(missingOut) > 0 {
		_, err := gr.client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: sg.GroupId, IpPermissions: allTraffic(missingOut)})
		if err != nil && !isDuplicateRule(err) {
			return fmt.Errorf("opening %s outbound: %w", what, err)
		}
	}
	ec2Debugf(gr.env, "%s: %s now allows all traffic in and out", gr.target, id)
	return nil
}

// isDuplicateRule is EC2's answer to adding a rule the group has: another
// apply added it first.
func isDuplicateRule(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidPermission.Duplicate"
}

// missingAllTraffic returns which of 0.0.0.0/0 and ::/0 no all-protocol
// rule of perms covers.
func missingAllTraffic(perms []ec2types.IpPermission) []string {
	var have4, have6 bool
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != "-1" {
			continue
		}
		for _, r := range p.IpRanges {
			have4 = have4 || aws.ToString(r.CidrIp) == allIPv4
		}
		for _, r := range p.Ipv6Ranges {
			have6 = have6 || aws.ToString(r.CidrIpv6) == allIPv6
		}
	}
	var out []string
	if !have4 {
		out = append(out, allIPv4)
	}
	if !have6 {
		out = append(out, allIPv6)
	}
	return out
}

// allTraffic is an all-protocol rule for the given CIDRs.
func allTraffic(cidrs []string) []ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String("-1")}
	for _, c := range cidrs {
		if strings.Contains(c, ":") {
			p.Ipv6Ranges = append(p.Ipv6Ranges, ec2types.Ipv6Range{CidrIpv6: aws.String(c)})
		} else {
			p.IpRanges = append(p.IpRanges, ec2types.IpRange{CidrIp: aws.String(c)})
		}
	}
	return []ec2types.IpPermission{p}
}

func prefixed(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}

// describePerms shows rules briefly: "tcp 22 from 0.0.0.0/0".
func describePerms(perms []ec2types.IpPermission) string {
	var parts []string
	for _, p := range perms {
		proto := aws.ToString(p.IpProtocol)
		ports := ""
		if proto == "-1" {
			proto = "all traffic"
		} else if p.FromPort != nil {
			ports = fmt.Sprintf(" %d-%d", aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort))
		}
		var peers []string
		for _, r := range p.IpRanges {
			peers = append(peers, aws.ToString(r.CidrIp))
		}
		for _, r := range p.Ipv6Ranges {
			peers = append(peers, aws.ToString(r.CidrIpv6))
		}
		for _, g := range p.UserIdGroupPairs {
			peers = append(peers, aws.ToString(g.GroupId))
		}
		parts = append(parts, fmt.Sprintf("%s%s with %s", proto, ports, strings.Join(peers, ", ")))
	}
	return strings.Join(parts, "; ")
}
