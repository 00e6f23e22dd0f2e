package actions

import (
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// IncidentTagKey is the tag every tagging action writes unless told
// otherwise, so a responder in the console sees at once that a resource is
// part of an incident.
const IncidentTagKey = "cordon:incident"

// ec2Tag tags the target. The value "{incident}" in a configured tag is
// replaced by the incident id.
type ec2Tag struct {
	tags map[string]string
}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_tag",
		Summary:     "Add tags (default cordon:incident = incident id) to an instance, volume, user or role",
		Phase:       Preserve,
		TargetTypes: []string{schema.ResourceInstance, schema.ResourceEBSVolume, schema.ResourceIAMUser, schema.ResourceIAMRole},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"tags": &hcldec.AttrSpec{Name: "tags", Type: cty.Map(cty.String)},
		},
		New: func(cfg cty.Value) (Action, error) {
			return ec2Tag{tags: attrStringMap(cfg, "tags")}, nil
		},
	})
}

// tagsFor returns the tags to write for an incident.
func (a ec2Tag) tagsFor(incidentID string) map[string]string {
	if len(a.tags) == 0 {
		return map[string]string{IncidentTagKey: incidentID}
	}
	out := make(map[string]string, len(a.tags))
	for k, v := range a.tags {
		if v == "{incident}" {
			v = incidentID
		}
		out[k] = v
	}
	return out
}

func (a ec2Tag) Describe(req *Request) Change {
	current := tagsOf(req)
	before, after := map[string]any{}, map[string]any{}
	for k, v := range a.tagsFor(req.IncidentID) {
		if old, ok := current[k]; ok {
			before[k] = old
		}
		after[k] = v
	}
	c := Change{Before: map[string]any{"tags": before}, After: map[string]any{"tags": after}}
	return c
}
