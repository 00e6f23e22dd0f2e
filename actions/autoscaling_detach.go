package actions

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// autoscalingDetach takes the instance out of its Auto Scaling group without
// decrementing the desired capacity, so the group launches a clean
// replacement and never terminates the compromised instance (evidence) as
// part of scaling in.
type autoscalingDetach struct{}

func init() {
	Register(&Definition{
		Type:        "aws_autoscaling_detach",
		Summary:     "Detach an instance from its Auto Scaling group (capacity is replaced)",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return autoscalingDetach{}, nil },
	})
}

func (autoscalingDetach) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{Before: map[string]any{}, After: map[string]any{"autoscaling_group": nil}}
	switch {
	case v.facts == nil:
		c.BeforeUnknown = []string{"autoscaling_group"}
	default:
		asg, _ := v.facts["autoscaling_group"].(string)
		if asg == "" {
			c.Before["autoscaling_group"] = nil
		} else {
			c.Before["autoscaling_group"] = asg
		}
	}
	return c
}
