package actions

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
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

// Grants: the access key calls act on the key's user (user*); the target
// is the key, which has no tags of its own, so the scopes' tags do not
// apply (Service Authorization Reference for IAM).
func (iamDisableAccessKey) Grants() []Grant {
	return []Grant{
		{Actions: []string{"iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:UpdateAccessKey"}, Resources: []string{iamUserARN}},
	}
}

func (a iamDisableAccessKey) Permissions() []string { return grantActions(a.Grants()) }

// Read returns {status, user_name}. The user comes from the finding when it
// names one, else from GetAccessKeyLastUsed, which answers it for any key
// of the account.
func (iamDisableAccessKey) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	id := req.Target.ID
	if strings.HasPrefix(id, "ASIA") {
		return nil, fmt.Errorf("access key %s is a temporary credential of a role session, which IAM cannot disable; deny the role's older sessions with aws_iam_deny_all instead: %w", id, ErrRefused)
	}
	client := env.AWS.IAM(req.Target.Account, req.Target.Region)
	user, _ := req.Resource.Details["user_name"].(string)
	if user == "" {
		out, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("finding the user of access key %s: %w", id, err)
		}
		user = aws.ToString(out.UserName)
	}
	pages := iam.NewListAccessKeysPaginator(client, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the access keys of IAM user %s: %w", user, err)
		}
		for _, k := range page.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == id {
				return keyState(string(k.Status), user), nil
			}
		}
	}
	return nil, fmt.Errorf("access key %s is not a key of IAM user %s", id, user)
}

func (iamDisableAccessKey) Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (map[string]any, bool, error) {
	id := req.Target.ID
	if err := refuseOwnKey(ctx, env, req.Target); err != nil {
		return nil, false, err
	}
	user, _ := live["user_name"].(string)
	if live["status"] == string(iamtypes.StatusTypeInactive) {
		return keyState(string(iamtypes.StatusTypeInactive), user), false, nil
	}
	if err := setKeyStatus(ctx, env, req.Target, user, iamtypes.StatusTypeInactive); err != nil {
		return nil, false, fmt.Errorf("disabling access key %s of IAM user %s: %w", id, user, err)
	}
	return keyState(string(iamtypes.StatusTypeInactive), user), true, nil
}

// Revert sets the key back to the status it had (Active, unless it was
// already inactive and Apply changed nothing).
func (iamDisableAccessKey) Revert(ctx context.Context, env *Env, req *Request, before, _ map[string]any) (map[string]any, error) {
	user, _ := before["user_name"].(string)
	status, _ := before["status"].(string)
	switch iamtypes.StatusType(status) {
	case iamtypes.StatusTypeInactive:
		return keyState(status, user), nil
	case iamtypes.StatusTypeActive:
	default:
		return nil, fmt.Errorf("recorded status %q of access key %s is neither Active nor Inactive", status, req.Target.ID)
	}
	if err := setKeyStatus(ctx, env, req.Target, user, iamtypes.StatusTypeActive); err != nil {
		return nil, fmt.Errorf("enabling access key %s of IAM user %s again: %w", req.Target.ID, user, err)
	}
	return keyState(status, user), nil
}

func setKeyStatus(ctx context.Context, env *Env, t Target, user string, status iamtypes.StatusType) error {
	in := &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(t.ID), Status: status}
	if user != "" {
		in.UserName = aws.String(user)
	}
	_, err := env.AWS.IAM(t.Account, t.Region).UpdateAccessKey(ctx, in)
	return err
}

// refuseOwnKey fails, wrapping ErrRefused, when the key is one cordon is
// acting with: its base credentials, or those it uses in the target's
// account. Disabling it would cut the response off half way, and leave
// nothing able to revert it. When cordon cannot tell, it does not act.
func refuseOwnKey(ctx context.Context, env *Env, t Target) error {
	base, err := env.AWS.BaseAccessKeyID(ctx)
	if err != nil {
		return fmt.Errorf("finding cordon's own access key, to be sure not to disable it: %w", err)
	}
	acting, err := env.AWS.AccessKeyID(ctx, t.Account, t.Region)
	if err != nil {
		return fmt.Errorf("finding the access key cordon acts with in account %s, to be sure not to disable it: %w", t.Account, err)
	}
	if t.ID == base || t.ID == acting {
		return fmt.Errorf("access key %s is the one cordon itself is using: %w", t.ID, ErrRefused)
	}
	return nil
}

func keyState(status, user string) map[string]any {
	return map[string]any{"status": status, "user_name": user}
}
