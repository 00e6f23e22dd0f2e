package awsemu

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Security group writes: creating a group (with the allow-all egress rule
// EC2 gives every new VPC group) and adding or revoking rules, with EC2's
// error codes.

func createSecurityGroup(r *request) (any, error) {
	p := r.params
	name, desc, vpcID := p.get("GroupName"), p.get("GroupDescription"), p.get("VpcId")
	switch {
	case name == "":
		return nil, ec2Err("MissingParameter", "The request must contain the parameter groupName")
	case desc == "":
		return nil, ec2Err("MissingParameter", "The request must contain the parameter groupDescription")
	case len(name) > 255:
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter groupName is invalid. Group names may not be longer than 255 characters.", name)
	case len(desc) > 255:
		return nil, ec2Err("InvalidParameterValue", "Value for parameter groupDescription is invalid. Descriptions may not be longer than 255 characters.")
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter groupName is invalid. Group names may not be in the format sg-*.", name)
	case vpcID == "":
		// Accounts made since 2013 have a default VPC; the emulator's
		// have none, so the VPC must be named.
		return nil, ec2Err("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
	}
	if err := r.resources(vpcID); err != nil {
		return nil, err
	}
	if !vpcRE.MatchString(vpcID) {
		return nil, ec2Err("InvalidVpcID.Malformed", "Invalid id: \"%s\" (expecting \"vpc-...\")", vpcID)
	}
	vpc := r.region.VPCs[vpcID]
	if vpc == nil {
		return nil, ec2Err("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	tags, err := r.tagSpecifications("security-group")
	if err != nil {
		return nil, err
	}
	// ec2:CreateSecurityGroup's security-group* (the new group, with the
	// tags requested) and vpc resources; tags applied at creation also
	// need ec2:CreateTags on the new group. IAM answers before the
	// service looks for a group of that name.
	r.setRequestTags(tags)
	group := r.ec2Item("security-group", "*", nil, "ec2:Vpc", r.vpcARN(vpcID))
	if err := r.authorize(r.action(), group, r.ec2Item("vpc", vpcID, vpc.Tags, "ec2:VpcID", vpcID)); err != nil {
		return nil, err
	}
	if err := r.authorizeCreateTags("CreateSecurityGroup", tags, group); err != nil {
		return nil, err
	}
	for _, g := range r.region.SecurityGroups {
		if g.VPC == vpcID && g.Name == name {
			return nil, ec2Err("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	g := &SecurityGroup{
		ID: r.e.ids.resourceID("sg", r.acct.ID+"/"+vpcID+"/"+name), Name: name, Description: desc, VPC: vpcID,
		Ingress: []Rule{}, Egress: []Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}},
	}
	if len(tags) > 0 {
		g.Tags = cloneTags(tags)
	}
	r.region.SecurityGroups[g.ID] = g
	r.call.ResourceIDs = append(r.call.ResourceIDs, g.ID)
	return &struct {
		ec2Response
		GroupID string `xml:"groupId"`
		Tags    []xTag `xml:"tagSet>item"`
		ARN     string `xml:"securityGroupArn"`
	}{GroupID: g.ID, Tags: xTags(g.Tags), ARN: fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", r.region.Name, r.acct.ID, g.ID)}, nil
}

// permission is one rule of a group as EC2 counts them: a protocol, a
// port range and one source or destination.
type permission struct {
	proto    string
	from, to int
	kind     string // "ipv4", "ipv6" or "group"
	peer     string
}

func (p permission) String() string {
	ports := "ALL"
	if p.proto != "-1" {
		ports = fmt.Sprintf("%s %d-%d", p.proto, p.from, p.to)
	}
	return fmt.Sprintf("peer: %s, %s, ALLOW", p.peer, ports)
}

// permissionsParam reads IpPermissions.N: the protocol, ports and each
// IPv4 range, IPv6 range and group of every item.
func (r *request) permissionsParam() ([]permission, error) {
	p := r.params
	items := p.items("IpPermissions")
	if len(items) == 0 {
		return nil, ec2Err("MissingParameter", "The request must contain the parameter ipPermissions")
	}
	var out []permission
	for _, it := range items {
		proto := strings.ToLower(p.get(it + ".IpProtocol"))
		switch proto {
		case "":
			return nil, ec2Err("MissingParameter", "The request must contain the parameter ipProtocol")
		case "all", "-1":
			proto = "-1"
		case "6":
			proto = "tcp"
		case "17":
			proto = "udp"
		case "1":
			proto = "icmp"
		case "tcp", "udp", "icmp", "icmpv6", "58":
		default:
			if n, err := strconv.Atoi(proto); err != nil || n < 0 || n > 255 {
				return nil, ec2Err("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", p.get(it+".IpProtocol"))
			}
		}
		from, to := 0, 0
		if proto != "-1" {
			f, okF, err := p.int(it + ".FromPort")
			if err != nil {
				return nil, err
			}
			t, okT, err := p.int(it + ".ToPort")
			if err != nil {
				return nil, err
			}
			if (proto == "tcp" || proto == "udp") && (!okF || !okT) {
				return nil, ec2Err("InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
			}
			if (proto == "tcp" || proto == "udp") && (f < 0 || t > 65535 || f > t) {
				return nil, ec2Err("InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
			}
			from, to = f, t
		}
		n := 0
		for _, rit := range p.items(it + ".IpRanges") {
			cidr := p.get(rit + ".CidrIp")
			if ip, _, err := net.ParseCIDR(cidr); err != nil || ip.To4() == nil {
				return nil, ec2Err("InvalidParameterValue", "CIDR block %s is malformed", cidr)
			}
			out, n = append(out, permission{proto, from, to, "ipv4", cidr}), n+1
		}
		for _, rit := range p.items(it + ".Ipv6Ranges") {
			cidr := p.get(rit + ".CidrIpv6")
			if ip, _, err := net.ParseCIDR(cidr); err != nil || ip.To4() != nil {
				return nil, ec2Err("InvalidParameterValue", "CIDR block %s is malformed", cidr)
			}
			out, n = append(out, permission{proto, from, to, "ipv6", cidr}), n+1
		}
		for _, git := range p.items(it + ".Groups") {
			id := p.get(git + ".GroupId")
			if _, err := lookup(kindGroup, r.region.SecurityGroups, []string{id}); err != nil {
				return nil, err
			}
			out, n = append(out, permission{proto, from, to, "group", id}), n+1
		}
		if n == 0 {
			return nil, ec2Err("MissingParameter", "The request must contain either a CIDR range, a prefix list or a security group to allow.")
		}
	}
	return out, nil
}

// rulesOf gives a group's egress or ingress rules.
func rulesOf(g *SecurityGroup, egress bool) *[]Rule {
	if egress {
		return &g.Egress
	}
	return &g.Ingress
}

// hasPermission reports whether rules hold p.
func hasPermission(rules []Rule, p permission) bool {
	for _, rule := range rules {
		if rule.Protocol == p.proto && (p.proto == "-1" || (rule.FromPort == p.from && rule.ToPort == p.to)) &&
			slices.Contains(peersOf(rule, p.kind), p.peer) {
			return true
		}
	}
	return false
}

func peersOf(rule Rule, kind string) []string {
	switch kind {
	case "ipv4":
		return rule.CIDRs
	case "ipv6":
		return rule.IPv6CIDRs
	}
	return rule.Groups
}

// addPermission adds p to the rule of its protocol and ports, or as a
// new rule.
func addPermission(rules []Rule, p permission) []Rule {
	for i, rule := range rules {
		if rule.Protocol == p.proto && (p.proto == "-1" || (rule.FromPort == p.from && rule.ToPort == p.to)) {
			switch p.kind {
			case "ipv4":
				rules[i].CIDRs = append(rules[i].CIDRs, p.peer)
			case "ipv6":
				rules[i].IPv6CIDRs = append(rules[i].IPv6CIDRs, p.peer)
			default:
				rules[i].Groups = append(rules[i].Groups, p.peer)
			}
			return rules
		}
	}
	rule := Rule{Protocol: p.proto, FromPort: p.from, ToPort: p.to}
	switch p.kind {
	case "ipv4":
		rule.CIDRs = []string{p.peer}
	case "ipv6":
		rule.IPv6CIDRs = []string{p.peer}
	default:
		rule.Groups = []string{p.peer}
	}
	return append(rules, rule)
}

// removePermission removes p, dropping a rule left with no peer.
func removePermission(rules []Rule, p permission) []Rule {
	out := rules[:0]
	for _, rule := range rules {
		if rule.Protocol == p.proto && (p.proto == "-1" || (rule.FromPort == p.from && rule.ToPort == p.to)) {
			drop := func(l []string) []string {
				return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return s == p.peer })
			}
			switch p.kind {
			case "ipv4":
				rule.CIDRs = drop(rule.CIDRs)
			case "ipv6":
				rule.IPv6CIDRs = drop(rule.IPv6CIDRs)
			default:
				rule.Groups = drop(rule.Groups)
			}
			if len(rule.CIDRs)+len(rule.IPv6CIDRs)+len(rule.Groups) == 0 {
				continue
			}
		}
		out = append(out, rule)
	}
	return out
}

// groupParam looks up GroupId: the group whose rules change, the only
// resource (security-group*) of the rule operations.
func (r *request) groupParam() (*SecurityGroup, error) {
	id := r.params.get("GroupId")
	if id == "" {
		return nil, ec2Err("MissingParameter", "The request must contain the parameter groupId")
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	found, err := lookup(kindGroup, r.region.SecurityGroups, []string{id})
	if err != nil {
		return nil, err
	}
	return found[0], nil
}

// authorizeSecurityGroupRules adds ingress or egress rules. A rule the
// group already has is an error, as in EC2.
func authorizeSecurityGroupRules(egress bool) handler {
	return func(r *request) (any, error) {
		g, err := r.groupParam()
		if err != nil {
			return nil, err
		}
		perms, err := r.permissionsParam()
		if err != nil {
			return nil, err
		}
		// IAM answers before the service looks at the rules.
		if err := r.authorize(r.action(), r.groupItem(g)); err != nil {
			return nil, err
		}
		rules := rulesOf(g, egress)
		for _, p := range perms {
			if hasPermission(*rules, p) {
				return nil, ec2Err("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", p)
			}
		}
		if err := r.dryRun(); err != nil {
			return nil, err
		}
		for _, p := range perms {
			*rules = addPermission(*rules, p)
		}
		return nil, nil
	}
}

// revokeSecurityGroupRules removes rules. Rules the group does not have
// are not an error: EC2 lists them in unknownIpPermissionSet and returns
// false.
func revokeSecurityGroupRules(egress bool) handler {
	return func(r *request) (any, error) {
		g, err := r.groupParam()
		if err != nil {
			return nil, err
		}
		perms, err := r.permissionsParam()
		if err != nil {
			return nil, err
		}
		if err := r.authorize(r.action(), r.groupItem(g)); err != nil {
			return nil, err
		}
		if err := r.dryRun(); err != nil {
			return nil, err
		}
		rules := rulesOf(g, egress)
		var unknown []Rule
		for _, p := range perms {
			if !hasPermission(*rules, p) {
				unknown = addPermission(unknown, p)
				continue
			}
			*rules = removePermission(*rules, p)
		}
		return &struct {
			ec2Response
			Return  bool            `xml:"return"`
			Unknown []xIPPermission `xml:"unknownIpPermissionSet>item,omitempty"`
		}{Return: len(unknown) == 0, Unknown: xPermissions(unknown, r.acct.ID)}, nil
	}
}
