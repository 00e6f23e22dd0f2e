package actions

import (
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2Stop stops the instance: the workload ends, the disks stay. It runs in
// the disrupt phase, after acquisition, and never for an instance whose
// containment failed (the engine stops later phases for that target).
type ec2Stop struct {
	force bool
}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_stop",
		Summary:     "Stop the instance",
		Phase:       Disrupt,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"force": &hcldec.AttrSpec{Name: "force", Type: cty.Bool},
		},
		New: func(cfg cty.Value) (Action, error) { return ec2Stop{force: attrBool(cfg, "force")}, nil },
	})
}

func (ec2Stop) Describe(req *Request) Change {
	c := Change{Before: map[string]any{}, After: map[string]any{"state": "stopped"}}
	if s, ok := viewInstance(req).str("state", "instance_state"); ok {
		c.Before["state"] = s
	} else {
		c.BeforeUnknown = []string{"state"}
	}
	return c
}
