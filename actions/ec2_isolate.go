package actions

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/wait"
	"github.com/cordonhq/cordon/schema"
)

// ec2Isolate replaces the security groups of every network interface of an
// instance with a group that allows nothing, the isolation group of the
// interface's VPC. Security groups are stateful: connections already
// tracked survive a swap to a deny-all group, so with untracking the
// interfaces first move to an allow-all group (whose traffic is
// untracked) and, after untrack_wait, to the isolation group, which then
// cuts the established connections too.
type ec2Isolate struct {
	isolation   groupChoice
	untrack     *groupChoice // nil: no untracking
	untrackWait time.Duration
}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_isolate",
		Summary:     "Move every network interface of an instance to the isolation security group of its VPC",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"security_group_id":          &hcldec.AttrSpec{Name: "security_group_id", Type: cty.String},
			"security_group_ids":         &hcldec.AttrSpec{Name: "security_group_ids", Type: cty.Map(cty.String)},
			"untrack":                    &hcldec.AttrSpec{Name: "untrack", Type: cty.Bool},
			"untrack_security_group_id":  &hcldec.AttrSpec{Name: "untrack_security_group_id", Type: cty.String},
			"untrack_security_group_ids": &hcldec.AttrSpec{Name: "untrack_security_group_ids", Type: cty.Map(cty.String)},
			"untrack_wait":               &hcldec.AttrSpec{Name: "untrack_wait", Type: cty.String},
		},
		New: newEC2Isolate,
	})
}

func newEC2Isolate(cfg cty.Value) (Action, error) {
	iso, err := configuredGroups(cfg, isolationRole, "security_group_id", "security_group_ids")
	if err != nil {
		return nil, err
	}
	a := ec2Isolate{isolation: iso}
	untrack, err := configuredGroups(cfg, untrackRole, "untrack_security_group_id", "untrack_security_group_ids")
	if err != nil {
		return nil, err
	}
	named := !untrack.managed()
	switch v := cfg.GetAttr("untrack"); {
	case !v.IsNull() && v.IsKnown() && v.False() && named:
		return nil, &AttributeError{Attribute: "untrack", Summary: "Conflicting attributes",
			Detail: "untrack = false, yet an untrack group is named; leave untrack out, or the untrack group."}
	case named || attrBool(cfg, "untrack"):
		a.untrack = &untrack
	}
	if a.untrack != nil {
		if err := checkDistinctGroups(a.isolation, *a.untrack); err != nil {
			return nil, err
		}
	} else if attrString(cfg, "untrack_wait") != "" {
		return nil, &AttributeError{Attribute: "untrack_wait", Summary: "Untracking is not on",
			Detail: "untrack_wait is the time between the moves to the untrack group and to the isolation group; set untrack = true (or name an untrack group) to untrack connections."}
	}
	wait, err := attrDuration(cfg, "untrack_wait", 30*time.Second)
	if err != nil {
		return nil, err
	}
	a.untrackWait = wait
	return a, nil
}

// configuredGroups reads a role's groups: one (single) or a map of VPC
// id to group id (perVPC), or neither (cordon manages them).
func configuredGroups(cfg cty.Value, role groupRole, single, perVPC string) (groupChoice, error) {
	c := groupChoice{role: role, fixed: attrString(cfg, single)}
	if c.fixed != "" {
		if err := CheckID(single, SecurityGroupID, c.fixed); err != nil {
			return c, err
		}
	}
	v := cfg.GetAttr(perVPC)
	if v.IsNull() || !v.IsKnown() {
		return c, nil
	}
	if c.fixed != "" {
		return c, &AttributeError{Attribute: perVPC, Summary: "Conflicting attributes",
			Detail: fmt.Sprintf("Give either %s (one group, in one VPC) or %s (a group per VPC), not both.", single, perVPC)}
	}
	m := attrStringMap(cfg, perVPC)
	if len(m) == 0 {
		return c, &AttributeError{Attribute: perVPC, Summary: "No groups",
			Detail: fmt.Sprintf("%s maps VPC ids to group ids and is empty; leave it out to have cordon keep a %s group in each VPC.", perVPC, role.name)}
	}
	vpcOf := map[string]string{}
	for _, vpc := range sortedKeys(m) {
		if !VPCID.Match(vpc) {
			return c, &AttributeError{Attribute: perVPC, Summary: "Invalid VPC ID",
				Detail: fmt.Sprintf("Key %q is not a VPC ID (like %s).", vpc, VPCID.Example)}
		}
		g := m[vpc]
		if !SecurityGroupID.Match(g) {
			return c, &AttributeError{Attribute: perVPC, Summary: "Invalid security group ID",
				Detail: fmt.Sprintf("The group of %s, %q, is not a security group ID (like %s).", vpc, g, SecurityGroupID.Example)}
		}
		if other, dup := vpcOf[g]; dup {
			return c, &AttributeError{Attribute: perVPC, Summary: "One group for two VPCs",
				Detail: fmt.Sprintf("%s is given for %s and %s; a security group belongs to one VPC.", g, other, vpc)}
		}
		vpcOf[g] = vpc
	}
	c.perVPC = m
	return c, nil
}

// checkDistinctGroups refuses an untrack group that is also the
// isolation group: one allows all traffic, the other none.
func checkDistinctGroups(iso, untrack groupChoice) error {
	clash := func(a, b string) error {
		if a != "" && a == b {
			return &AttributeError{Attribute: untrack.role.attr, Summary: "Same group as the isolation group",
				Detail: fmt.Sprintf("The untrack group allows all traffic and the isolation group none; %s cannot be both.", a)}
		}
		return nil
	}
	if err := clash(iso.fixed, untrack.fixed); err != nil {
		return err
	}
	for vpc, g := range untrack.perVPC {
		if err := clash(iso.perVPC[vpc], g); err != nil {
			return err
		}
		if err := clash(iso.fixed, g); err != nil {
			return err
		}
	}
	for _, g := range iso.perVPC {
		if err := clash(g, untrack.fixed); err != nil {
			return err
		}
	}
	return nil
}

// Describe shows the groups each interface gets when the plan can know
// them: the configured group, or the configured group of the interface's
// VPC when the facts name it. A group cordon manages may not exist yet,
// so its id is known after apply, as Terraform shows a resource's id.
func (a ec2Isolate) Describe(req *Request) Change {
	c := Change{Before: map[string]any{}, After: map[string]any{}}
	v := viewInstance(req)
	perENI, union, ok := v.securityGroups()
	if !ok {
		c.BeforeUnknown = []string{"security_groups"}
	} else {
		c.Before["security_groups"] = list(union)
	}
	vpcs := v.interfaceVPCs()
	groupOf := func(eni string) (string, bool) {
		switch {
		case a.isolation.fixed != "":
			return a.isolation.fixed, true
		case a.isolation.perVPC != nil:
			vpc, known := vpcs[eni]
			if !known {
				vpc, known = vpcs[""]
			}
			g, mapped := a.isolation.perVPC[vpc]
			return g, known && mapped
		}
		return "", false
	}
	if len(perENI) > 1 {
		// With several interfaces the union hides which group was where;
		// the per-interface view is what revert restores.
		before, after := map[string]any{}, map[string]any{}
		var all []string
		known := true
		for _, eni := range sortedKeys(perENI) {
			before[eni] = list(perENI[eni])
			g, ok := groupOf(eni)
			known = known && ok
			after[eni] = list([]string{g})
			if !slices.Contains(all, g) {
				all = append(all, g)
			}
		}
		c.Before["network_interfaces"] = before
		if known {
			c.After["network_interfaces"], c.After["security_groups"] = after, list(all)
		} else {
			c.AfterUnknown = []string{"network_interfaces", "security_groups"}
		}
		return c
	}
	eni := ""
	for id := range perENI {
		eni = id
	}
	if g, ok := groupOf(eni); ok {
		c.After["security_groups"] = list([]string{g})
	} else {
		c.AfterUnknown = []string{"security_groups"}
	}
	return c
}

// Grants: reading interfaces, instances and groups needs "*" (describe
// calls support no resource-level permissions). Moving an interface is
// ec2:ModifyNetworkInterfaceAttribute, authorized on the interface
// (network-interface*), on the groups it is given (security-group) and on
// the instance it is attached to (instance): the last is the target,
// whose tags the scopes constrain, so it has its own statement; the
// interface and the groups carry none of the instance's tags, and revert
// moves interfaces back to any group. Keeping cordon's own groups needs
// ec2:CreateSecurityGroup (security-group*, with aws:RequestTag, and
// vpc), ec2:CreateTags on the new group only (ec2:CreateAction =
// CreateSecurityGroup) and the rule changes on groups tagged as cordon's
// (ec2:ResourceTag). Source: the Service Authorization Reference for
// Amazon EC2.
func (a ec2Isolate) Grants() []Grant {
	grants := []Grant{
		{Name: "Read", Actions: []string{"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups"}, Resources: allResources},
		{Actions: []string{"ec2:ModifyNetworkInterfaceAttribute"}, Resources: []string{ec2InstanceARN}, TargetTagKey: ec2TagKey},
		{Name: "Interfaces", Actions: []string{"ec2:ModifyNetworkInterfaceAttribute"}, Resources: []string{ec2ENIARN, ec2GroupARN}},
	}
	var tags []string
	if a.isolation.managed() {
		tags = append(tags, isolationRole.tag)
		grants = append(grants, Grant{Name: "CloseGroup", Actions: []string{"ec2:RevokeSecurityGroupEgress"}, Resources: []string{ec2GroupARN},
			Conditions: map[string]map[string][]string{"StringEquals": {ec2TagKey + IsolationTagKey: {isolationRole.tag}}}})
	}
	if a.untrack != nil && a.untrack.managed() {
		tags = append(tags, untrackRole.tag)
		grants = append(grants, Grant{Name: "OpenGroup", Actions: []string{"ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"},
			Resources:  []string{ec2GroupARN},
			Conditions: map[string]map[string][]string{"StringEquals": {ec2TagKey + IsolationTagKey: {untrackRole.tag}}}})
	}
	if len(tags) > 0 {
		grants = append(grants,
			Grant{Name: "CreateGroup", Actions: []string{"ec2:CreateSecurityGroup"}, Resources: []string{ec2GroupARN},
				Conditions: map[string]map[string][]string{"StringEquals": {"aws:RequestTag/" + IsolationTagKey: tags},
					"ForAllValues:StringEquals": {"aws:TagKeys": {IsolationTagKey, "Name"}}}},
			Grant{Name: "CreateGroupInVpc", Actions: []string{"ec2:CreateSecurityGroup"}, Resources: []string{ec2VPCARN}},
			Grant{Name: "TagNewGroup", Actions: []string{"ec2:CreateTags"}, Resources: []string{ec2GroupARN},
				Conditions: map[string]map[string][]string{
					"StringEquals":              {"ec2:CreateAction": {"CreateSecurityGroup"}, "aws:RequestTag/" + IsolationTagKey: tags},
					"ForAllValues:StringEquals": {"aws:TagKeys": {IsolationTagKey, "Name"}}}},
		)
	}
	return grants
}

func (a ec2Isolate) Permissions() []string { return grantActions(a.Grants()) }

// attachedENI is a network interface of the instance and its groups.
type attachedENI struct {
	id, vpc     string
	deviceIndex int32
	groups      []string
}

// readENIs returns the instance's interfaces in device order. An instance
// without any (terminated, or unknown: EC2 answers an empty list for a
// filter on an unknown instance) is an error that says which.
func readENIs(ctx context.Context, client *ec2.Client, id string) ([]attachedENI, error) {
	var enis []attachedENI
	p := ec2.NewDescribeNetworkInterfacesPaginator(client, &ec2.DescribeNetworkInterfacesInput{
		Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the network interfaces of %s: %w", id, err)
		}
		for _, n := range out.NetworkInterfaces {
			e := attachedENI{id: aws.ToString(n.NetworkInterfaceId), vpc: aws.ToString(n.VpcId)}
			if n.Attachment != nil {
				e.deviceIndex = aws.ToInt32(n.Attachment.DeviceIndex)
			}
			for _, g := range n.Groups {
				e.groups = append(e.groups, aws.ToString(g.GroupId))
			}
			enis = append(enis, e)
		}
	}
	if len(enis) == 0 {
		in, err := lookupInstance(ctx, client, id)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", id, err)
		}
		return nil, fmt.Errorf("%s has no network interfaces (it is %s)", id, in.State.Name)
	}
	sort.SliceStable(enis, func(i, j int) bool { return enis[i].deviceIndex < enis[j].deviceIndex })
	return enis, nil
}

// isolationState is the state map of interfaces: the union of their groups
// in first-seen order, and each interface's groups, which revert needs.
func isolationState(enis []attachedENI) map[string]any {
	var union []string
	per := make(map[string]any, len(enis))
	for _, e := range enis {
		per[e.id] = list(e.groups)
		for _, g := range e.groups {
			if !slices.Contains(union, g) {
				union = append(union, g)
			}
		}
	}
	return map[string]any{"security_groups": list(union), "network_interfaces": per}
}

func (ec2Isolate) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	enis, err := readENIs(ctx, env.AWS.EC2(req.Target.Account, req.Target.Region), req.Target.ID)
	if err != nil {
		return nil, err
	}
	return isolationState(enis), nil
}

// Apply reads the interfaces again rather than trusting live: it needs
// their VPCs, and it must act on the interfaces attached now.
func (a ec2Isolate) Apply(ctx context.Context, env *Env, req *Request, _ map[string]any) (map[string]any, bool, error) {
	id := req.Target.ID
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	enis, err := readENIs(ctx, client, id)
	if err != nil {
		return nil, false, err
	}
	groups := newGroupResolver(env, client, id)

	// An interface already alone in its VPC's isolation group needs
	// nothing, and finding that out creates no group.
	var todo []attachedENI
	target := map[string][]string{} // interface → its isolation group
	for _, e := range enis {
		g, found, err := groups.find(ctx, a.isolation, e.vpc)
		if err != nil {
			return nil, false, err
		}
		if found && slices.Equal(e.groups, []string{g.id}) {
			target[e.id] = e.groups
			continue
		}
		todo = append(todo, e)
	}
	if len(todo) == 0 {
		return a.afterState(enis, target, groups), false, nil
	}
	for _, e := range todo {
		g, err := groups.get(ctx, a.isolation, e.vpc)
		if err != nil {
			return nil, false, err
		}
		target[e.id] = []string{g.id}
	}
	untrack := map[string][]string{}
	if a.untrack != nil {
		for _, e := range todo {
			g, err := groups.get(ctx, *a.untrack, e.vpc)
			if err != nil {
				return nil, false, err
			}
			untrack[e.id] = []string{g.id}
		}
	}
	if err := a.checkNamedGroups(ctx, client, id, todo, target, untrack); err != nil {
		return nil, false, err
	}

	if a.untrack == nil {
		for i, e := range todo {
			if err := setENIGroups(ctx, client, e.id, target[e.id]); err != nil {
				return nil, i > 0, fmt.Errorf("isolating %s of %s: %w", e.id, id, err)
			}
			ec2Debugf(env, "%s: %s %v -> %v", id, e.id, e.groups, target[e.id])
		}
		return a.afterState(enis, target, groups), true, nil
	}

	// Security groups are stateful: a connection already tracked (an
	// attacker's reverse shell) stays allowed when its interface moves to
	// a group that allows nothing. A flow that an allow-all group admits
	// in both directions (0.0.0.0/0, every protocol and port) is not
	// tracked, though, and an untracked flow is judged packet by packet.
	// So the interfaces move first to the allow-all group, which turns
	// the tracked connections into untracked ones, and after
	// untrack_wait (time for packets of those flows to pass under the new
	// rules) to the isolation group, which then drops them.
	var opened []attachedENI // interfaces in the allow-all group, with their groups before
	for _, e := range todo {
		if slices.Equal(e.groups, untrack[e.id]) {
			// Left there by an earlier, interrupted apply: its groups
			// before that are not known, so it is not rolled back.
			continue
		}
		// Rolled back even when the call fails: a call cancelled or timed
		// out on the way back may have moved the interface all the same,
		// and restoring its groups is harmless if it did not.
		opened = append(opened, e)
		if err := setENIGroups(ctx, client, e.id, untrack[e.id]); err != nil {
			err = fmt.Errorf("moving %s of %s to untrack group %s: %w", e.id, id, untrack[e.id][0], err)
			return nil, false, a.rollback(ctx, env, client, id, opened, err)
		}
		ec2Debugf(env, "%s: %s %v -> %v (untrack)", id, e.id, e.groups, untrack[e.id])
	}
	ec2Debugf(env, "%s: waiting %s for tracked connections to become untracked", id, a.untrackWait)
	if err := wait.Sleep(ctx, a.untrackWait); err != nil {
		err = fmt.Errorf("waiting %s before isolating %s: %w", a.untrackWait, id, err)
		return nil, false, a.rollback(ctx, env, client, id, opened, err)
	}
	for i, e := range todo {
		if err := setENIGroups(ctx, client, e.id, target[e.id]); err != nil {
			err = fmt.Errorf("isolating %s of %s: %w", e.id, id, err)
			// Those already isolated stay so; the others must not stay open.
			var stillOpen []attachedENI
			for _, o := range opened {
				if !slices.ContainsFunc(todo[:i], func(d attachedENI) bool { return d.id == o.id }) {
					stillOpen = append(stillOpen, o)
				}
			}
			return nil, i > 0, a.rollback(ctx, env, client, id, stillOpen, err)
		}
		ec2Debugf(env, "%s: %s -> %v", id, e.id, target[e.id])
	}
	return a.afterState(enis, target, groups), true, nil
}

// afterState is the interfaces in their isolation groups, with the group
// of each VPC (isolation_groups) and the groups this apply created
// (created_security_groups). Revert leaves those: a VPC's isolation group
// is shared by every incident there, other instances may be in it now
// and other applies about to use it, and a group without rules costs
// nothing; the next isolation in the VPC finds it again.
func (a ec2Isolate) afterState(enis []attachedENI, target map[string][]string, groups *groupResolver) map[string]any {
	after := make([]attachedENI, len(enis))
	byVPC := map[string]any{}
	for i, e := range enis {
		after[i] = attachedENI{id: e.id, vpc: e.vpc, deviceIndex: e.deviceIndex, groups: target[e.id]}
		if len(target[e.id]) == 1 {
			byVPC[e.vpc] = target[e.id][0]
		}
	}
	st := isolationState(after)
	st["isolation_groups"] = byVPC
	var created []string
	for _, k := range sortedKeys(groups.cache) {
		if g := groups.cache[k]; g.created {
			created = append(created, g.id)
		}
	}
	if len(created) > 0 {
		st["created_security_groups"] = list(created)
	}
	return st
}

// isolationRollbackTimeout bounds putting interfaces back after a failed
// isolation, which runs even when the apply's context was cancelled.
const isolationRollbackTimeout = time.Minute

// rollback returns interfaces left in the allow-all untrack group to the
// groups they had: an instance must never be left wide open because its
// isolation failed halfway. cause is returned, with the rollback's own
// failure if any, so the responder knows what state the instance is in.
func (a ec2Isolate) rollback(ctx context.Context, env *Env, client *ec2.Client, id string, opened []attachedENI, cause error) error {
	if len(opened) == 0 {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), isolationRollbackTimeout)
	defer cancel()
	var failed []string
	for _, e := range opened {
		if err := setENIGroups(ctx, client, e.id, e.groups); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", e.id, err))
			continue
		}
		ec2Debugf(env, "%s: %s restored to %v after the failed isolation", id, e.id, e.groups)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w; and could not take these interfaces out of the allow-all untrack group: %s", cause,
			strings.Join(failed, "; "))
	}
	return fmt.Errorf("%w (interfaces restored to their groups)", cause)
}

// checkNamedGroups verifies, before anything changes, that every
// configured group an interface moves to exists in the interface's VPC:
// EC2 would refuse the move of an interface in another VPC only after the
// others had moved. (Groups cordon keeps were found or made in the VPC.)
func (a ec2Isolate) checkNamedGroups(ctx context.Context, client *ec2.Client, id string, enis []attachedENI, target, untrack map[string][]string) error {
	want := map[string]string{} // group → the VPC an interface needs it in
	eniOf := map[string]string{}
	var ids []string
	need := func(c *groupChoice, m map[string][]string, e attachedENI) error {
		if c == nil || c.managed() || len(m[e.id]) == 0 {
			return nil
		}
		g := m[e.id][0]
		vpc, seen := want[g]
		switch {
		case seen && vpc != e.vpc:
			return fmt.Errorf("security group %s is given to interfaces in %s and %s, but a group belongs to one VPC; %s was not isolated", g, vpc, e.vpc, id)
		case !seen:
			ids = append(ids, g)
			want[g], eniOf[g] = e.vpc, e.id
		}
		return nil
	}
	for _, e := range enis {
		if err := need(&a.isolation, target, e); err != nil {
			return err
		}
		if err := need(a.untrack, untrack, e); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	out, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
	if err != nil {
		return fmt.Errorf("checking security groups %s before isolating %s: %w", strings.Join(ids, ", "), id, err)
	}
	vpcOf := map[string]string{}
	for _, g := range out.SecurityGroups {
		vpcOf[aws.ToString(g.GroupId)] = aws.ToString(g.VpcId)
	}
	for _, g := range ids {
		vpc, ok := vpcOf[g]
		if !ok {
			return fmt.Errorf("security group %s does not exist; %s was not isolated", g, id)
		}
		if vpc != want[g] {
			return fmt.Errorf("security group %s is in %s, but interface %s of %s is in %s; %s was not isolated", g, vpc, eniOf[g], id, want[g], id)
		}
	}
	return nil
}

// Revert gives every interface the groups it had before. Untracking is not
// needed to widen access. An interface detached since is skipped.
func (ec2Isolate) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	id := req.Target.ID
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	enis, err := readENIs(ctx, client, id)
	if err != nil {
		return nil, err
	}
	want := map[string][]string{}
	if per, ok := before["network_interfaces"].(map[string]any); ok {
		for eni, groups := range per {
			want[eni] = stringList(groups)
		}
	} else if groups := stringList(before["security_groups"]); len(groups) > 0 && len(enis) == 1 {
		// Only the union was recorded; with one interface it is exact.
		want[enis[0].id] = groups
	} else {
		return nil, fmt.Errorf("reverting the isolation of %s: the recorded before-state has no groups per interface", id)
	}
	for i, e := range enis {
		groups, recorded := want[e.id]
		if !recorded || len(groups) == 0 || slices.Equal(e.groups, groups) {
			continue
		}
		if err := setENIGroups(ctx, client, e.id, groups); err != nil {
			return nil, fmt.Errorf("restoring the security groups of %s of %s: %w", e.id, id, err)
		}
		ec2Debugf(env, "%s: %s %v -> %v (revert)", id, e.id, e.groups, groups)
		enis[i].groups = groups
	}
	for _, eni := range sortedKeys(want) {
		if !slices.ContainsFunc(enis, func(e attachedENI) bool { return e.id == eni }) {
			ec2Debugf(env, "%s: %s is no longer attached; its groups are not restored", id, eni)
		}
	}
	return isolationState(enis), nil
}

func setENIGroups(ctx context.Context, client *ec2.Client, eni string, groups []string) error {
	_, err := client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eni), Groups: groups,
	})
	return err
}
