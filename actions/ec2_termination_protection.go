package actions

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2TerminationProtection keeps an instance and its disks from being
// destroyed while it is evidence: API termination disabled, shutdown from
// inside the instance only stops it, and volumes survive termination.
type ec2TerminationProtection struct{}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_termination_protection",
		Summary:     "Disable API termination, make shutdown stop the instance, keep volumes on termination",
		Phase:       Preserve,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return ec2TerminationProtection{}, nil },
	})
}

func (ec2TerminationProtection) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{
		Before: map[string]any{},
		After: map[string]any{
			"disable_api_termination":              true,
			"instance_initiated_shutdown_behavior": "stop",
		},
	}
	if b, ok := v.facts["disable_api_termination"].(bool); ok {
		c.Before["disable_api_termination"] = b
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "disable_api_termination")
	}
	if s, ok := v.str("instance_initiated_shutdown_behavior", ""); ok {
		c.Before["instance_initiated_shutdown_behavior"] = s
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "instance_initiated_shutdown_behavior")
	}
	if ids, dot, ok := v.volumes(); ok {
		before, after := map[string]any{}, map[string]any{}
		for _, id := range ids {
			if b, known := dot[id]; known {
				before[id] = b
			}
			after[id] = false
		}
		c.Before["delete_on_termination"] = before
		c.After["delete_on_termination"] = after
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "delete_on_termination")
		c.AfterUnknown = append(c.AfterUnknown, "delete_on_termination")
	}
	return c
}
