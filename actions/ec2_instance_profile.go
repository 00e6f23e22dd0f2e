package actions

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// ec2InstanceProfile takes the instance's credentials away: it removes the
// instance profile or swaps in a restricted one. Credentials already handed
// out by the metadata service stay valid until they expire, so with
// revoke_sessions the old role also gets a policy denying every session
// issued before now.
type ec2InstanceProfile struct {
	replacementARN string
	revokeSessions bool
}

func init() {
	Register(&Definition{
		Type:        "aws_ec2_instance_profile",
		Summary:     "Remove or replace an instance's IAM instance profile, optionally revoking its role's sessions",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceInstance},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"replacement_profile_arn": &hcldec.AttrSpec{Name: "replacement_profile_arn", Type: cty.String},
			"revoke_sessions":         &hcldec.AttrSpec{Name: "revoke_sessions", Type: cty.Bool},
		},
		New: func(cfg cty.Value) (Action, error) {
			a := ec2InstanceProfile{
				replacementARN: attrString(cfg, "replacement_profile_arn"),
				revokeSessions: attrBool(cfg, "revoke_sessions"),
			}
			if a.replacementARN != "" && !(strings.HasPrefix(a.replacementARN, "arn:") && strings.Contains(a.replacementARN, ":instance-profile/")) {
				return nil, &AttributeError{Attribute: "replacement_profile_arn", Summary: "Invalid instance profile ARN",
					Detail: fmt.Sprintf("%q is not an instance profile ARN (arn:aws:iam::ACCOUNT:instance-profile/NAME).", a.replacementARN)}
			}
			return a, nil
		},
	})
}

func (a ec2InstanceProfile) Describe(req *Request) Change {
	v := viewInstance(req)
	c := Change{Before: map[string]any{}, After: map[string]any{}}
	if p, ok := v.facts["iam_instance_profile"].(map[string]any); ok {
		c.Before["iam_instance_profile_arn"], _ = p["arn"].(string)
	} else if _, hasFacts := v.facts["instance_id"]; hasFacts {
		c.Before["iam_instance_profile_arn"] = nil // described: no profile
	} else if arn, ok := v.str("", "iam_instance_profile_arn"); ok {
		c.Before["iam_instance_profile_arn"] = arn
	} else {
		c.BeforeUnknown = append(c.BeforeUnknown, "iam_instance_profile_arn")
	}
	if a.replacementARN != "" {
		c.After["iam_instance_profile_arn"] = a.replacementARN
	} else {
		c.After["iam_instance_profile_arn"] = nil
	}
	if a.revokeSessions {
		// The cut-off time is the moment of apply.
		c.AfterUnknown = append(c.AfterUnknown, "role_sessions_revoked_before")
	}
	return c
}
