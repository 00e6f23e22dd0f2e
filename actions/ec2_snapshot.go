package actions

import (
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2Snapshot snapshots every volume attached to the instance, tagged with
// the incident id and the volume's own tags. It is not reversible: a
// snapshot is evidence, and evidence is kept.
type ec2Snapshot struct {
	tags map[string]string
}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_snapshot",
		Summary:     "Snapshot every attached volume, tagged with the incident id",
		Phase:       Acquire,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  false,
		Attributes: hcldec.ObjectSpec{
			"tags": &hcldec.AttrSpec{Name: "tags", Type: cty.Map(cty.String)},
		},
		New: func(cfg cty.Value) (Action, error) {
			return ec2Snapshot{tags: attrStringMap(cfg, "tags")}, nil
		},
	})
}

func (a ec2Snapshot) Describe(req *Request) Change {
	c := Change{
		Before:       map[string]any{},
		After:        map[string]any{},
		AfterUnknown: []string{"snapshots"},
	}
	if ids, _, ok := viewInstance(req).volumes(); ok {
		c.Before["volumes"] = list(ids)
		c.After["volumes"] = list(ids)
	} else {
		c.BeforeUnknown = []string{"volumes"}
		c.AfterUnknown = append([]string{}, "snapshots", "volumes")
	}
	return c
}
