package actions

import (
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

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
