package actions

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// elbDeregister takes the instance out of every target group and classic
// load balancer, so it stops serving (and receiving) user traffic.
type elbDeregister struct{}

func init() {
	Register(&Definition{
		Type:        "aws_elb_deregister",
		Summary:     "Deregister an instance from every target group and classic load balancer",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return elbDeregister{}, nil },
	})
}

func (elbDeregister) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{
		Before: map[string]any{},
		After:  map[string]any{"target_groups": []any{}, "load_balancers": []any{}},
	}
	if v.facts == nil {
		c.BeforeUnknown = []string{"load_balancers", "target_groups"}
		return c
	}
	c.Before["target_groups"] = list(stringList(v.facts["target_groups"]))
	c.Before["load_balancers"] = list(stringList(v.facts["load_balancers"]))
	return c
}
