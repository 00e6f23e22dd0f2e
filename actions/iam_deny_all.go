package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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
			if !IAMName.Match(a.policyName) {
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

// Grants: the inline policy calls act on the user (user*) or role
// (role*), the target, whose tags are aws:ResourceTag keys. IAM has no
// condition key for an inline policy's name (the Service Authorization
// Reference for IAM lists aws:ResourceTag, iam:ResourceTag and
// iam:PermissionsBoundary for PutUserPolicy and PutRolePolicy), so the
// name cannot be pinned: the grant is narrowed to the scopes' users and
// roles instead, and the engine denies it on cordon's own role.
// GetCallerIdentity needs no permission; it is listed for clarity.
func (iamDenyAll) Grants() []Grant {
	return []Grant{
		{Name: "Users", Actions: []string{"iam:DeleteUserPolicy", "iam:GetUserPolicy", "iam:ListUserPolicies", "iam:PutUserPolicy"},
			Resources: []string{iamUserARN}, TargetTagKey: awsTagKey, TargetTypes: []string{schema.ResourceIAMUser}},
		{Name: "Roles", Actions: []string{"iam:DeleteRolePolicy", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:PutRolePolicy"},
			Resources: []string{iamRoleARN}, TargetTagKey: awsTagKey, TargetTypes: []string{schema.ResourceIAMRole}},
		{Name: "Identity", Actions: []string{"sts:GetCallerIdentity"}, Resources: allResources},
	}
}

func (a iamDenyAll) Permissions() []string { return grantActions(a.Grants()) }

// The state: inline_policy is the policy's name when a deny-all of that
// name is attached, else nil; for a role, sessions_revoked_before is the
// cut-off of its aws:TokenIssueTime condition.
const sessionsRevokedBefore = "sessions_revoked_before"

// Read lists the principal's inline policies rather than getting the one
// by name, so that a principal that does not exist is an error (NoSuchEntity
// from the list) and not mistaken for one without the policy. A policy of
// that name that is not a deny-all is someone else's: Read refuses, since
// overwriting it (and deleting it on revert) would destroy it.
func (a iamDenyAll) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	p, err := a.principal(req)
	if err != nil {
		return nil, err
	}
	client := env.AWS.IAM(req.Target.Account, req.Target.Region)
	found, err := p.hasPolicy(ctx, client, a.policyName)
	if err != nil {
		return nil, err
	}
	if !found {
		return map[string]any{"inline_policy": nil}, nil
	}
	doc, err := p.getPolicy(ctx, client, a.policyName)
	if err != nil {
		return nil, err
	}
	deny, cutoff := parseDenyAll(doc)
	if !deny {
		return nil, fmt.Errorf("%s already has an inline policy named %s that is not a deny-all; cordon will not overwrite it (set policy_name to another name): %w", p, a.policyName, ErrRefused)
	}
	live := map[string]any{"inline_policy": a.policyName}
	if cutoff != "" {
		live[sessionsRevokedBefore] = cutoff
	}
	return live, nil
}

// Apply attaches the policy. An existing deny-all of that name is left as
// it is (changed = false), its cut-off included: an earlier containment
// stays in force. Cordon refuses to deny its own principal, which would
// lock itself out of the response and of the revert.
func (a iamDenyAll) Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (map[string]any, bool, error) {
	p, err := a.principal(req)
	if err != nil {
		return nil, false, err
	}
	if live["inline_policy"] == a.policyName {
		after := map[string]any{"inline_policy": a.policyName}
		if c, ok := live[sessionsRevokedBefore]; ok {
			after[sessionsRevokedBefore] = c
		}
		return after, false, nil
	}
	if err := refuseOwnPrincipal(ctx, env, req.Target, p); err != nil {
		return nil, false, err
	}
	after := map[string]any{"inline_policy": a.policyName}
	var cutoff string
	if p.role {
		cutoff = revocationCutoff(env.now())
		after[sessionsRevokedBefore] = cutoff
	}
	client := env.AWS.IAM(req.Target.Account, req.Target.Region)
	if err := p.putPolicy(ctx, client, a.policyName, denyAllDocument(cutoff)); err != nil {
		return nil, false, err
	}
	return after, true, nil
}

// Revert deletes the policy, unless it was there before Apply (which then
// changed nothing): only what cordon put is taken away.
func (a iamDenyAll) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	p, err := a.principal(req)
	if err != nil {
		return nil, err
	}
	if before["inline_policy"] == a.policyName {
		return before, nil
	}
	client := env.AWS.IAM(req.Target.Account, req.Target.Region)
	if err := p.deletePolicy(ctx, client, a.policyName); err != nil {
		return nil, err
	}
	return map[string]any{"inline_policy": nil}, nil
}

// revocationCutoff is now rounded up to the whole second: the policy's
// date has second precision, and a session issued earlier in the current
// second must not escape the revocation. (A legitimate assumption in the
// rest of that second is denied too; it only needs to assume again.)
func revocationCutoff(now time.Time) string {
	now = now.UTC()
	if t := now.Truncate(time.Second); !t.Equal(now) {
		now = t.Add(time.Second)
	}
	return now.Format(time.RFC3339)
}

// denyAllDocument is the policy: deny everything, or with a cut-off, deny
// everything to sessions issued before it (AWS's own "revoke active
// sessions" policy, AWSRevokeOlderSessions).
func denyAllDocument(cutoff string) string {
	stmt := map[string]any{"Sid": "CordonDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}
	if cutoff != "" {
		stmt["Sid"] = "CordonRevokeOlderSessions"
		stmt["Condition"] = map[string]any{"DateLessThan": map[string]any{"aws:TokenIssueTime": cutoff}}
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{stmt}}) // maps of strings always marshal
	return string(b)
}

// parseDenyAll reports whether a policy document holds a statement denying
// every action on every resource, and the aws:TokenIssueTime cut-off of
// the first such statement when it has one.
func parseDenyAll(doc string) (deny bool, cutoff string) {
	var p struct {
		Statement json.RawMessage
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return false, ""
	}
	type statement struct {
		Effect      string
		Action      any
		NotAction   any
		Resource    any
		NotResource any
		Condition   map[string]map[string]any
	}
	var stmts []statement
	if json.Unmarshal(p.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(p.Statement, &one) != nil {
			return false, ""
		}
		stmts = []statement{one}
	}
	for _, s := range stmts {
		if s.Effect != "Deny" || s.NotAction != nil || s.NotResource != nil || !hasStar(s.Action) || !hasStar(s.Resource) {
			continue
		}
		for op, kv := range s.Condition {
			if op != "DateLessThan" {
				continue
			}
			for k, v := range kv {
				if strings.EqualFold(k, "aws:TokenIssueTime") {
					if c, ok := v.(string); ok {
						return true, c
					}
				}
			}
		}
		return true, ""
	}
	return false, ""
}

func hasStar(v any) bool {
	switch x := v.(type) {
	case string:
		return x == "*"
	case []any:
		for _, e := range x {
			if e == "*" {
				return true
			}
		}
	}
	return false
}

// iamPrincipal is the user or role the policy goes on; the IAM API has the
// same four inline-policy calls for both.
type iamPrincipal struct {
	name string
	role bool
}

func (a iamDenyAll) principal(req *Request) (iamPrincipal, error) {
	switch req.Target.Type {
	case schema.ResourceIAMUser:
		return iamPrincipal{name: req.Target.ID}, nil
	case schema.ResourceIAMRole:
		return iamPrincipal{name: req.Target.ID, role: true}, nil
	}
	return iamPrincipal{}, fmt.Errorf("aws_iam_deny_all cannot target a %s", req.Target.Type)
}

func (p iamPrincipal) String() string {
	if p.role {
		return "IAM role " + p.name
	}
	return "IAM user " + p.name
}

func (p iamPrincipal) hasPolicy(ctx context.Context, c *iam.Client, name string) (bool, error) {
	var names []string
	if p.role {
		pages := iam.NewListRolePoliciesPaginator(c, &iam.ListRolePoliciesInput{RoleName: aws.String(p.name)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return false, fmt.Errorf("listing the inline policies of %s: %w", p, err)
			}
			names = append(names, page.PolicyNames...)
		}
	} else {
		pages := iam.NewListUserPoliciesPaginator(c, &iam.ListUserPoliciesInput{UserName: aws.String(p.name)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return false, fmt.Errorf("listing the inline policies of %s: %w", p, err)
			}
			names = append(names, page.PolicyNames...)
		}
	}
	for _, n := range names {
		if n == name {
			return true, nil
		}
	}
	return false, nil
}

// getPolicy returns the document of an inline policy, decoded: IAM returns
// documents URL-encoded (RFC 3986).
func (p iamPrincipal) getPolicy(ctx context.Context, c *iam.Client, name string) (string, error) {
	var doc string
	if p.role {
		out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.name), PolicyName: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("reading inline policy %s of %s: %w", name, p, err)
		}
		doc = aws.ToString(out.PolicyDocument)
	} else {
		out, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(p.name), PolicyName: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("reading inline policy %s of %s: %w", name, p, err)
		}
		doc = aws.ToString(out.PolicyDocument)
	}
	decoded, err := url.PathUnescape(doc)
	if err != nil {
		return "", fmt.Errorf("reading inline policy %s of %s: the document is not URL-encoded: %w", name, p, err)
	}
	return decoded, nil
}

func (p iamPrincipal) putPolicy(ctx context.Context, c *iam.Client, name, doc string) error {
	var err error
	if p.role {
		_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(p.name), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
	} else {
		_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(p.name), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
	}
	if err != nil {
		return fmt.Errorf("attaching inline policy %s to %s: %w", name, p, err)
	}
	return nil
}

// deletePolicy deletes an inline policy; one already gone is fine.
func (p iamPrincipal) deletePolicy(ctx context.Context, c *iam.Client, name string) error {
	var err error
	if p.role {
		_, err = c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(p.name), PolicyName: aws.String(name)})
	} else {
		_, err = c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(p.name), PolicyName: aws.String(name)})
	}
	var gone *iamtypes.NoSuchEntityException
	if err != nil && !errors.As(err, &gone) {
		return fmt.Errorf("deleting inline policy %s of %s: %w", name, p, err)
	}
	return nil
}

// refuseOwnPrincipal fails, wrapping ErrRefused, when the principal is one
// cordon acts as: the identity of its base credentials, or the one it
// assumes in the target's account. Either would be denied the rest of the
// response (its assumed-role session was issued before the cut-off), and
// the revert too. The base identity is read through a client of no
// account, which uses the base credentials without assuming a role.
func refuseOwnPrincipal(ctx context.Context, env *Env, t Target, p iamPrincipal) error {
	for _, account := range []string{t.Account, ""} {
		out, err := env.AWS.STS(account, t.Region).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return fmt.Errorf("finding cordon's own identity, to be sure not to deny it: %w", err)
		}
		acct, role, name, ok := principalOfARN(aws.ToString(out.Arn))
		if ok && acct == t.Account && role == p.role && name == p.name {
			return fmt.Errorf("%s is the identity cordon itself acts as (%s): %w", p, aws.ToString(out.Arn), ErrRefused)
		}
	}
	return nil
}

// principalOfARN reads the account and the user or role name of an
// identity ARN: arn:aws:iam::111122223333:user/path/alice,
// arn:aws:iam::…:role/path/r or arn:aws:sts::…:assumed-role/r/session.
func principalOfARN(arn string) (account string, role bool, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", false, "", false
	}
	account, resource := parts[4], parts[5]
	segs := strings.Split(resource, "/")
	switch {
	case segs[0] == "user" && len(segs) >= 2:
		return account, false, segs[len(segs)-1], true
	case segs[0] == "role" && len(segs) >= 2:
		return account, true, segs[len(segs)-1], true
	case segs[0] == "assumed-role" && len(segs) >= 3:
		return account, true, segs[1], true
	}
	return "", false, "", false
}
