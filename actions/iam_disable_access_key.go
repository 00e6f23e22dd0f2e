package actions

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// iamDisableAccessKey makes an access key inactive. Inactive rather than
// deleted: the key id stays in CloudTrail and the change is reversible. It
// refuses to disable the key cordon itself is using, which would end the
// response half way.
type iamDisableAccessKey struct{}

func init() {
	Register(&Definition{
		Type:        "aws_iam_disable_access_key",
		Summary:     "Set an IAM access key to Inactive (never cordon's own key)",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceAccessKey},
		Reversible:  true,
		New:         func(cty.Value) (Action, error) { return iamDisableAccessKey{}, nil },
	})
}

func (iamDisableAccessKey) Describe(req *Request) Change {
	c := Change{Before: map[string]any{}, After: map[string]any{"status": "Inactive"}}
	if s, ok := req.Resource.Details["status"].(string); ok && s != "" {
		c.Before["status"] = s
	} else {
		c.BeforeUnknown = []string{"status"}
	}
	if u, ok := req.Resource.Details["user_name"].(string); ok && u != "" {
		c.Before["user_name"] = u
		c.After["user_name"] = u
	}
	return c
}
