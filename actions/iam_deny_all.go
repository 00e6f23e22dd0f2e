package actions

import (
	"fmt"
	"regexp"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// DefaultDenyAllPolicyName is the inline policy aws_iam_deny_all attaches.
const DefaultDenyAllPolicyName = "cordon-deny-all"

// iamDenyAll attaches an inline policy denying every action to a user or a
// role. Explicit deny beats any allow, so this contains a principal whose
// permissions come from many places at once. For a role, the deny is
// conditioned on aws:TokenIssueTime before now, which revokes the sessions
// already issued while letting a fresh, legitimate assumption work.
type iamDenyAll struct {
	policyName string
}

var iamPolicyName = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

func init() {
	Register(&Definition{
		Type:        "aws_iam_deny_all",
		Summary:     "Attach an inline deny-all policy to an IAM user or role (for roles, revoke earlier sessions)",
		Phase:       Contain,
		TargetTypes: []string{schema.ResourceIAMUser, schema.ResourceIAMRole},
		Reversible:  true,
		Attributes: hcldec.ObjectSpec{
			"policy_name": &hcldec.AttrSpec{Name: "policy_name", Type: cty.String},
		},
		New: func(cfg cty.Value) (Action, error) {
			a := iamDenyAll{policyName: attrString(cfg, "policy_name")}
			if a.policyName == "" {
				a.policyName = DefaultDenyAllPolicyName
			}
			if !iamPolicyName.MatchString(a.policyName) {
				return nil, &AttributeError{Attribute: "policy_name", Summary: "Invalid IAM policy name",
					Detail: fmt.Sprintf("%q is not a valid IAM policy name (1–128 of letters, digits and +=,.@_-).", a.policyName)}
			}
			return a, nil
		},
	})
}

func (a iamDenyAll) Describe(req *Request) Change {
	c := Change{
		Before:        map[string]any{},
		After:         map[string]any{"inline_policy": a.policyName},
		BeforeUnknown: []string{"inline_policy"},
	}
	if req.Target.Type == schema.ResourceIAMRole {
		c.AfterUnknown = []string{"sessions_revoked_before"}
	}
	return c
}
