package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

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
			if a.replacementARN != "" {
				if err := CheckID("replacement_profile_arn", InstanceProfileARN, a.replacementARN); err != nil {
					return nil, err
				}
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

// Grants: the association calls are authorized on the instance
// (instance*), the target; associating a profile passes its role to EC2
// (iam:PassRole on the role, with iam:PassedToService); GetInstanceProfile
// on the profile (instance-profile*). Revoking sessions writes an inline
// policy onto the instance's role, which is not the target and whose
// tags the scopes say nothing of: PutRolePolicy and DeleteRolePolicy
// support no condition on the policy's name (the Service Authorization
// Reference for IAM lists only aws:ResourceTag, iam:ResourceTag and
// iam:PermissionsBoundary), so they are granted on roles, only when
// revoke_sessions is set; the engine denies them on cordon's own role.
func (a ec2InstanceProfile) Grants() []Grant {
	grants := []Grant{
		{Name: "Read", Actions: []string{"ec2:DescribeIamInstanceProfileAssociations", "ec2:DescribeInstances"}, Resources: allResources},
		{Actions: []string{"ec2:AssociateIamInstanceProfile", "ec2:DisassociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation"},
			Resources: []string{ec2InstanceARN}, TargetTagKey: ec2TagKey},
		{Name: "PassRole", Actions: []string{"iam:PassRole"}, Resources: []string{iamRoleARN},
			Conditions: map[string]map[string][]string{"StringEquals": {"iam:PassedToService": {"ec2.amazonaws.com"}}}},
		{Name: "Profiles", Actions: []string{"iam:GetInstanceProfile"}, Resources: []string{iamProfileARN}},
	}
	if a.revokeSessions {
		grants = append(grants, Grant{Name: "RevokeSessions", Actions: []string{"iam:DeleteRolePolicy", "iam:PutRolePolicy"}, Resources: []string{iamRoleARN}})
	}
	return grants
}

func (a ec2InstanceProfile) Permissions() []string { return grantActions(a.Grants()) }

// profileAssociation is the instance's current profile association; zero
// when it has none.
type profileAssociation struct {
	id, profileARN string
}

// readProfile finds the instance's associated profile. EC2 answers an
// empty list for an unknown instance, so an instance without one is looked
// up to tell the two apart.
func readProfile(ctx context.Context, client *ec2.Client, id string) (profileAssociation, error) {
	p := ec2.NewDescribeIamInstanceProfileAssociationsPaginator(client, &ec2.DescribeIamInstanceProfileAssociationsInput{
		Filters: []ec2types.Filter{
			{Name: aws.String("instance-id"), Values: []string{id}},
			{Name: aws.String("state"), Values: []string{string(ec2types.IamInstanceProfileAssociationStateAssociated)}},
		},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return profileAssociation{}, fmt.Errorf("reading the instance profile of %s: %w", id, err)
		}
		for _, a := range out.IamInstanceProfileAssociations {
			if aws.ToString(a.InstanceId) == id && a.IamInstanceProfile != nil {
				return profileAssociation{id: aws.ToString(a.AssociationId), profileARN: aws.ToString(a.IamInstanceProfile.Arn)}, nil
			}
		}
	}
	if _, err := lookupInstance(ctx, client, id); err != nil {
		return profileAssociation{}, fmt.Errorf("reading %s: %w", id, err)
	}
	return profileAssociation{}, nil
}

// arnOrNil is a profile ARN as state: null for no profile.
func arnOrNil(arn string) any {
	if arn == "" {
		return nil
	}
	return arn
}

func (ec2InstanceProfile) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	cur, err := readProfile(ctx, env.AWS.EC2(req.Target.Account, req.Target.Region), req.Target.ID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"iam_instance_profile_arn": arnOrNil(cur.profileARN)}, nil
}

// Apply reads the association again rather than trusting live: it needs
// the association id, which the plan's state does not carry.
//
// With revoke_sessions, the old role's sessions are revoked before the
// profile is removed. Afterwards the association is gone, and with it the
// only record of which role to revoke: an apply retried after a failed
// revoke would find nothing left to do and report success. Credentials the
// metadata service hands out in the moment between the two calls are not
// revoked; it refreshes them minutes before they expire, not on demand.
func (a ec2InstanceProfile) Apply(ctx context.Context, env *Env, req *Request, _ map[string]any) (map[string]any, bool, error) {
	id := req.Target.ID
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	cur, err := readProfile(ctx, client, id)
	if err != nil {
		return nil, false, err
	}
	after := map[string]any{"iam_instance_profile_arn": arnOrNil(a.replacementARN)}
	if cur.profileARN == a.replacementARN {
		return after, false, nil
	}
	changed := false
	if a.revokeSessions && cur.profileARN != "" {
		rev, err := revokeProfileSessions(ctx, env, req, cur.profileARN)
		if err != nil {
			return nil, false, err
		}
		if rev.role != "" {
			changed = true
			after["role_sessions_revoked_before"] = rev.before.Format(time.RFC3339)
			after["revoked_role_name"] = rev.role
			after["revoke_policy_name"] = rev.policy
		}
	}
	if err := setProfile(ctx, env, client, id, cur, a.replacementARN); err != nil {
		if changed {
			// Kept: it only takes away, and a retry writes it again.
			err = fmt.Errorf("%w (policy %s on role %s, revoking its earlier sessions, stays in place)",
				err, after["revoke_policy_name"], after["revoked_role_name"])
		}
		return nil, changed, err
	}
	return after, true, nil
}

// Revert puts the original profile back and deletes the revoke policy.
func (a ec2InstanceProfile) Revert(ctx context.Context, env *Env, req *Request, before, after map[string]any) (map[string]any, error) {
	id := req.Target.ID
	recorded, present := before["iam_instance_profile_arn"]
	want, ok := recorded.(string)
	if !present || (!ok && recorded != nil) {
		return nil, fmt.Errorf("reverting the instance profile of %s: the recorded before-state has no profile ARN", id)
	}
	client := env.AWS.EC2(req.Target.Account, req.Target.Region)
	cur, err := readProfile(ctx, client, id)
	if err != nil {
		return nil, err
	}
	if cur.profileARN != want {
		if err := setProfile(ctx, env, client, id, cur, want); err != nil {
			return nil, err
		}
	}
	if err := a.liftRevocation(ctx, env, req, want, after); err != nil {
		return nil, err
	}
	return map[string]any{"iam_instance_profile_arn": arnOrNil(want)}, nil
}

// liftRevocation deletes the revoke policy Apply put on the old profile's
// role. after names both when it is Apply's record; when it is not (a live
// state read back), the role is the one of the profile restored, and the
// policy is named after the incident. A policy already gone is no error.
func (a ec2InstanceProfile) liftRevocation(ctx context.Context, env *Env, req *Request, profileARN string, after map[string]any) error {
	role, _ := after["revoked_role_name"].(string)
	policy, _ := after["revoke_policy_name"].(string)
	if role == "" && a.revokeSessions && profileARN != "" {
		var err error
		if role, err = profileRole(ctx, env, req, profileARN); err != nil {
			return err
		}
	}
	if policy == "" {
		policy = revokePolicyName(req.IncidentID)
	}
	if role == "" {
		return nil
	}
	_, err := env.AWS.IAM(req.Target.Account, req.Target.Region).DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String(policy),
	})
	var gone *iamtypes.NoSuchEntityException
	if err != nil && !errors.As(err, &gone) {
		return fmt.Errorf("deleting session revoke policy %s of role %s: %w", policy, role, err)
	}
	ec2Debugf(env, "%s: revoke policy %s of role %s deleted", req.Target.ID, policy, role)
	return nil
}

// profileRole returns the role of an instance profile; "" for none.
func profileRole(ctx context.Context, env *Env, req *Request, profileARN string) (string, error) {
	name := profileARN[strings.LastIndex(profileARN, "/")+1:]
	out, err := env.AWS.IAM(req.Target.Account, req.Target.Region).GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("finding the role of instance profile %s: %w", name, err)
	}
	if out.InstanceProfile == nil || len(out.InstanceProfile.Roles) == 0 {
		return "", nil
	}
	return aws.ToString(out.InstanceProfile.Roles[0].RoleName), nil
}

// setProfile moves the instance from association cur to profile want
// (empty: none).
func setProfile(ctx context.Context, env *Env, client *ec2.Client, id string, cur profileAssociation, want string) error {
	switch {
	case cur.id == "" && want == "":
		return nil
	case cur.id == "":
		if _, err := client.AssociateIamInstanceProfile(ctx, &ec2.AssociateIamInstanceProfileInput{
			InstanceId: aws.String(id), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Arn: aws.String(want)},
		}); err != nil {
			return fmt.Errorf("associating instance profile %s with %s: %w", want, id, err)
		}
	case want == "":
		if _, err := client.DisassociateIamInstanceProfile(ctx, &ec2.DisassociateIamInstanceProfileInput{
			AssociationId: aws.String(cur.id),
		}); err != nil {
			return fmt.Errorf("removing instance profile %s from %s: %w", cur.profileARN, id, err)
		}
	default:
		if _, err := client.ReplaceIamInstanceProfileAssociation(ctx, &ec2.ReplaceIamInstanceProfileAssociationInput{
			AssociationId: aws.String(cur.id), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Arn: aws.String(want)},
		}); err != nil {
			return fmt.Errorf("replacing instance profile %s of %s with %s: %w", cur.profileARN, id, want, err)
		}
	}
	ec2Debugf(env, "%s: instance profile %q -> %q", id, cur.profileARN, want)
	return nil
}

// sessionRevocation is the deny policy put on an instance profile's role.
type sessionRevocation struct {
	role, policy string
	before       time.Time
}

// revokeProfileSessions puts on the role of profileARN an inline policy
// denying everything to sessions issued before now: the credentials the
// instance (and whoever took them from it) already holds. A profile with
// no role hands out no credentials; there is nothing to revoke.
func revokeProfileSessions(ctx context.Context, env *Env, req *Request, profileARN string) (sessionRevocation, error) {
	role, err := profileRole(ctx, env, req, profileARN)
	if err != nil {
		return sessionRevocation{}, err
	}
	if role == "" {
		ec2Debugf(env, "%s: instance profile %s has no role; no sessions to revoke", req.Target.ID, profileARN)
		return sessionRevocation{}, nil
	}
	rev := sessionRevocation{
		role:   role,
		policy: revokePolicyName(req.IncidentID),
		before: revokeCutoff(env.now()),
	}
	if _, err := env.AWS.IAM(req.Target.Account, req.Target.Region).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(rev.role), PolicyName: aws.String(rev.policy), PolicyDocument: aws.String(revokeSessionsPolicy(rev.before)),
	}); err != nil {
		return sessionRevocation{}, fmt.Errorf("revoking the sessions of role %s: %w", rev.role, err)
	}
	ec2Debugf(env, "%s: role %s: sessions issued before %s denied by policy %s", req.Target.ID, rev.role, rev.before.Format(time.RFC3339), rev.policy)
	return rev, nil
}

// revokeCutoff is now rounded up to a whole second, the precision of the
// policy's date: rounding down would spare sessions issued in the second
// before now.
func revokeCutoff(now time.Time) time.Time {
	now = now.UTC()
	if t := now.Truncate(time.Second); !t.Equal(now) {
		return t.Add(time.Second)
	}
	return now
}

// revokeSessionsPolicy is the policy the IAM console's "Revoke active
// sessions" attaches: deny everything to tokens issued before a time.
func revokeSessionsPolicy(before time.Time) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "CordonRevokeOlderSessions",
			"Effect":    "Deny",
			"Action":    "*",
			"Resource":  "*",
			"Condition": map[string]any{"DateLessThan": map[string]any{"aws:TokenIssueTime": before.UTC().Format(time.RFC3339)}},
		}},
	}
	b, _ := json.Marshal(doc) // a map of strings always marshals
	return string(b)
}

var notPolicyNameChars = regexp.MustCompile(`[^\w+=,.@-]`)

// revokePolicyName is one policy per incident, so that reverting one
// incident does not lift another's revocation of the same role.
func revokePolicyName(incidentID string) string {
	name := "cordon-revoke-sessions-" + notPolicyNameChars.ReplaceAllString(incidentID, "-")
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}
