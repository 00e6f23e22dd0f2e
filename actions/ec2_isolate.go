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
// instance with a group that allows nothing. Security groups are stateful:
// connections already tracked survive a swap to a deny-all group, so with
// untrack_security_group_id the interfaces first move to an allow-all group
// (whose traffic is untracked) and, after untrack_wait, to the isolation
// group, which then cuts the established connections too.
type ec2Isolate struct {
	groupID        string
	untrackGroupID string
	untrackWait    time.Duration
}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_isolate",
		Summary:     "Move every network interface of an instance to an isolation security group",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"security_group_id":         &hcldec.AttrSpec{Name: "security_group_id", Type: cty.String, Required: true},
			"untrack_security_group_id": &hcldec.AttrSpec{Name: "untrack_security_group_id", Type: cty.String},
			"untrack_wait":              &hcldec.AttrSpec{Name: "untrack_wait", Type: cty.String},
		},
		New: newEC2Isolate,
	})
}

func newEC2Isolate(cfg cty.Value) (Action, error) {
	a := ec2Isolate{
		groupID:        attrString(cfg, "security_group_id"),
		untrackGroupID: attrString(cfg, "untrack_security_group_id"),
	}
	if err := checkSecurityGroupID("security_group_id", a.groupID); err != nil {
		return nil, err
	}
	if a.untrackGroupID != "" {
		if err := checkSecurityGroupID("untrack_security_group_id", a.untrackGroupID); err != nil {
			return nil, err
		}
		if a.untrackGroupID == a.groupID {
			return nil, &AttributeError{Attribute: "untrack_security_group_id", Summary: "Same group as security_group_id",
				Detail: "The untrack group allows all traffic and the isolation group none; they cannot be the same group."}
		}
	}
	wait, err := attrDuration(cfg, "untrack_wait", 30*time.Second)
	if err != nil {
		return nil, err
	}
	a.untrackWait = wait
	return a, nil
}

func (a ec2Isolate) Describe(req *Request) Change {
	c := Change{
		Before: map[string]any{},
		After:  map[string]any{"security_groups": list([]string{a.groupID})},
	}
	perENI, union, ok := viewInstance(req).securityGroups()
	if !ok {
		c.BeforeUnknown = []string{"security_groups"}
		return c
	}
	c.Before["security_groups"] = list(union)
	if len(perENI) > 1 {
		// With several interfaces the union hides which group was where;
		// the per-interface view is what revert restores.
		before, after := map[string]any{}, map[string]any{}
		for _, eni := range sortedKeys(perENI) {
			before[eni] = list(perENI[eni])
			after[eni] = list([]string{a.groupID})
		}
		c.Before["network_interfaces"] = before
		c.After["network_interfaces"] = after
	}
	return c
}

func (ec2Isolate) Permissions() []string {
	return []string{
		"ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
		"ec2:ModifyNetworkInterfaceAttribute",
	}
}

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
	isolation := []string{a.groupID}
	var todo []attachedENI
	for _, e := range enis {
		if !slices.Equal(e.groups, isolation) {
			todo = append(todo, e)
		}
	}
	after := make([]attachedENI, len(enis))
	for i, e := range enis {
		after[i] = attachedENI{id: e.id, vpc: e.vpc, deviceIndex: e.deviceIndex, groups: isolation}
	}
	if len(todo) == 0 {
		return isolationState(after), false, nil
	}
	if err := a.checkGroups(ctx, client, id, todo); err != nil {
		return nil, false, err
	}
	if a.untrackGroupID == "" {
		for i, e := range todo {
			if err := setENIGroups(ctx, client, e.id, isolation); err != nil {
				return nil, i > 0, fmt.Errorf("isolating %s of %s: %w", e.id, id, err)
			}
			ec2Debugf(env, "%s: %s %v -> %v", id, e.id, e.groups, isolation)
		}
		return isolationState(after), true, nil
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
	untrack := []string{a.untrackGroupID}
	var opened []attachedENI // interfaces in the allow-all group, with their groups before
	for _, e := range todo {
		if slices.Equal(e.groups, untrack) {
			// Left there by an earlier, interrupted apply: its groups
			// before that are not known, so it is not rolled back.
			continue
		}
		if err := setENIGroups(ctx, client, e.id, untrack); err != nil {
			err = fmt.Errorf("moving %s of %s to untrack group %s: %w", e.id, id, a.untrackGroupID, err)
			return nil, false, a.rollback(ctx, env, client, id, opened, err)
		}
		opened = append(opened, e)
		ec2Debugf(env, "%s: %s %v -> %v (untrack)", id, e.id, e.groups, untrack)
	}
	ec2Debugf(env, "%s: waiting %s for tracked connections to become untracked", id, a.untrackWait)
	if err := wait.Sleep(ctx, a.untrackWait); err != nil {
		err = fmt.Errorf("waiting %s before isolating %s: %w", a.untrackWait, id, err)
		return nil, false, a.rollback(ctx, env, client, id, opened, err)
	}
	for i, e := range todo {
		if err := setENIGroups(ctx, client, e.id, isolation); err != nil {
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
		ec2Debugf(env, "%s: %s -> %v", id, e.id, isolation)
	}
	return isolationState(after), true, nil
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
		return fmt.Errorf("%w; and could not take these interfaces out of allow-all group %s: %s", cause,
			a.untrackGroupID, strings.Join(failed, "; "))
	}
	return fmt.Errorf("%w (interfaces restored to their groups)", cause)
}

// checkGroups verifies, before anything changes, that the isolation (and
// untrack) group exists in the VPC of every interface to move: EC2 would
// refuse the move of an interface in another VPC only after the others
// had moved.
func (a ec2Isolate) checkGroups(ctx context.Context, client *ec2.Client, id string, enis []attachedENI) error {
	ids := []string{a.groupID}
	if a.untrackGroupID != "" && a.untrackGroupID != a.groupID {
		ids = append(ids, a.untrackGroupID)
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
		for _, e := range enis {
			if e.vpc != vpc {
				return fmt.Errorf("security group %s is in %s, but interface %s of %s is in %s; %s was not isolated",
					g, vpc, e.id, id, e.vpc, id)
			}
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
