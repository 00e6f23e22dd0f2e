package awsemu

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

func iamClient(e *env) *iam.Client { return iam.NewFromConfig(e.prod()) }

const denyAll = `{"Version":"2012-10-17","Statement":[{"Sid":"CordonDenyAll","Effect":"Deny","Action":"*","Resource":"*"}]}`

func TestAccessKeys(t *testing.T) {
	e := newEnv(t)
	c := iamClient(e)

	// How cordon finds a key's user, then disables the key.
	last, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(malloryKey)})
	wantOK(t, err)
	if *last.UserName != "mallory" || *last.AccessKeyLastUsed.ServiceName != "N/A" || last.AccessKeyLastUsed.LastUsedDate != nil {
		t.Errorf("last used %+v", last.AccessKeyLastUsed)
	}
	keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("mallory")})
	wantOK(t, err)
	if len(keys.AccessKeyMetadata) != 2 || keys.AccessKeyMetadata[0].Status != iamtypes.StatusTypeActive || keys.AccessKeyMetadata[1].Status != iamtypes.StatusTypeInactive {
		t.Errorf("keys %+v", keys.AccessKeyMetadata)
	}
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("mallory"), AccessKeyId: aws.String(malloryKey), Status: iamtypes.StatusTypeInactive})
	wantOK(t, err)

	// The disabled key no longer authenticates, in any service.
	mallory := iam.NewFromConfig(e.config("us-east-1", malloryKey, "", 1))
	_, err = mallory.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	wantCode(t, err, "InvalidClientTokenId")

	// Alice's own keys, inferred from the caller; her key's use is recorded.
	keys, err = c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	wantOK(t, err)
	if len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].UserName != "alice" {
		t.Errorf("caller's keys %+v", keys.AccessKeyMetadata)
	}
	last, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(aliceKey)})
	wantOK(t, err)
	if *last.AccessKeyLastUsed.ServiceName != "iam" || *last.AccessKeyLastUsed.Region != "us-east-1" || !last.AccessKeyLastUsed.LastUsedDate.Equal(testNow) {
		t.Errorf("alice's key last used %+v", last.AccessKeyLastUsed)
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown key", func() error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("mallory"), AccessKeyId: aws.String("AKIAEMUNOSUCHKEY0001"), Status: iamtypes.StatusTypeInactive})
			return err
		}, "NoSuchEntity"},
		{"another user's key", func() error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(malloryKey), Status: iamtypes.StatusTypeActive})
			return err
		}, "NoSuchEntity"},
		{"bad status", func() error {
			_, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(aliceKey), Status: "Disabled"})
			return err
		}, "ValidationError"},
		{"unknown user", func() error {
			_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("eve")})
			return err
		}, "NoSuchEntity"},
		{"key of another account", func() error {
			_, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(cordonKey)})
			return err
		}, "AccessDenied"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

func TestInlinePolicies(t *testing.T) {
	e := newEnv(t)
	c := iamClient(e)
	for _, kind := range []string{"user", "role"} {
		t.Run(kind, func(t *testing.T) {
			put := func(name, doc string) error {
				if kind == "user" {
					_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
					return err
				}
				_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("web-role"), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)})
				return err
			}
			get := func(name string) (string, error) {
				if kind == "user" {
					out, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String(name)})
					if err != nil {
						return "", err
					}
					return *out.PolicyDocument, nil
				}
				out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("web-role"), PolicyName: aws.String(name)})
				if err != nil {
					return "", err
				}
				return *out.PolicyDocument, nil
			}
			list := func() []string {
				if kind == "user" {
					out, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("mallory")})
					wantOK(t, err)
					return out.PolicyNames
				}
				out, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("web-role")})
				wantOK(t, err)
				return out.PolicyNames
			}
			del := func(name string) error {
				if kind == "user" {
					_, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String(name)})
					return err
				}
				_, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("web-role"), PolicyName: aws.String(name)})
				return err
			}

			wantOK(t, put("cordon-deny-all", denyAll))
			doc, err := get("cordon-deny-all")
			wantOK(t, err)
			// IAM returns the document URL-encoded.
			if !strings.HasPrefix(doc, "%7B%22Version%22%3A%222012-10-17%22") {
				t.Errorf("document not URL-encoded: %s", doc)
			}
			if plain, _ := url.QueryUnescape(doc); plain != denyAll {
				t.Errorf("decoded document %s", plain)
			}
			names := list()
			if !slices.Contains(names, "cordon-deny-all") {
				t.Errorf("policies %v", names)
			}
			wantOK(t, del("cordon-deny-all"))
			_, err = get("cordon-deny-all")
			wantCode(t, err, "NoSuchEntity")
			wantCode(t, del("cordon-deny-all"), "NoSuchEntity")

			for _, bad := range []string{`not json`, `{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`,
				`{"Statement":[{"Effect":"Deny","Resource":"*"}]}`, `{"Statement":[{"Effect":"Deny","Action":"*"}]}`,
				`{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Principal":"*"}]}`, `{"Version":"2020-01-01","Statement":[]}`,
				`{"Statement":[{"Effect":"Deny","Action":"nope","Resource":"*"}]}`,
				`{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Sometimes":{"aws:x":"y"}}}]}`} {
				wantCode(t, put("bad", bad), "MalformedPolicyDocument")
			}
		})
	}
	// Inline policies of a user total at most 2,048 characters.
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"` + strings.Repeat("x", 2100) + `"}}}]}`
	_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("mallory"), PolicyName: aws.String("big"), PolicyDocument: aws.String(big)})
	wantCode(t, err, "LimitExceeded")
	_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("web-role"), PolicyName: aws.String("big"), PolicyDocument: aws.String(big)})
	wantOK(t, err) // roles allow 10,240
	_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("eve"), PolicyName: aws.String("p"), PolicyDocument: aws.String(denyAll)})
	wantCode(t, err, "NoSuchEntity")
	_, err = c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("no-role"), PolicyName: aws.String("p")})
	wantCode(t, err, "NoSuchEntity")
}

func TestUserAndRoleTags(t *testing.T) {
	e := newEnv(t)
	c := iamClient(e)
	tag := []iamtypes.Tag{{Key: aws.String("cordon:incident"), Value: aws.String("inc-3")}}
	_, err := c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("mallory"), Tags: tag})
	wantOK(t, err)
	_, err = c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("web-role"), Tags: tag})
	wantOK(t, err)
	ut, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("mallory")})
	wantOK(t, err)
	if len(ut.Tags) != 2 || *ut.Tags[0].Key != "cordon:incident" || *ut.Tags[1].Key != "team" {
		t.Errorf("user tags %+v", ut.Tags)
	}
	_, err = c.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String("mallory"), TagKeys: []string{"cordon:incident"}})
	wantOK(t, err)
	_, err = c.UntagRole(ctx, &iam.UntagRoleInput{RoleName: aws.String("web-role"), TagKeys: []string{"cordon:incident", "absent"}})
	wantOK(t, err)
	rt, err := c.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("web-role")})
	wantOK(t, err)
	if len(rt.Tags) != 0 {
		t.Errorf("role tags after untag %+v", rt.Tags)
	}
	ut, err = c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("mallory"), MaxItems: aws.Int32(1)})
	wantOK(t, err)
	if !ut.IsTruncated && len(ut.Tags) != 1 {
		t.Errorf("paged tags %+v", ut)
	}

	_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("mallory"), Tags: []iamtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
	wantCode(t, err, "InvalidInput")
	_, err = c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("ghost"), Tags: tag})
	wantCode(t, err, "NoSuchEntity")
	var many []iamtypes.Tag
	for i := range 50 {
		many = append(many, iamtypes.Tag{Key: aws.String("k" + strings.Repeat("x", i)), Value: aws.String("v")})
	}
	_, err = c.TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"), Tags: many})
	wantCode(t, err, "LimitExceeded")
}

func TestGetUserRoleProfile(t *testing.T) {
	e := newEnv(t)
	c := iamClient(e)
	u, err := c.GetUser(ctx, &iam.GetUserInput{})
	wantOK(t, err)
	if *u.User.UserName != "alice" || *u.User.Arn != "arn:aws:iam::111122223333:user/alice" || !strings.HasPrefix(*u.User.UserId, "AIDA") || len(u.User.Tags) != 2 {
		t.Errorf("caller %+v", u.User)
	}
	u, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("mallory")})
	wantOK(t, err)
	if *u.User.UserId != "AIDAEMUMALLORY000001" {
		t.Errorf("mallory %+v", u.User)
	}
	r, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("cordon-responder")})
	wantOK(t, err)
	trust, _ := url.QueryUnescape(*r.Role.AssumeRolePolicyDocument)
	if !strings.Contains(trust, "arn:aws:iam::444455556666:root") || *r.Role.MaxSessionDuration != 3600 {
		t.Errorf("role %+v trust %s", r.Role, trust)
	}
	p, err := c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("web-profile")})
	wantOK(t, err)
	if len(p.InstanceProfile.Roles) != 1 || *p.InstanceProfile.Roles[0].RoleName != "web-role" || *p.InstanceProfile.InstanceProfileId != "AIPAEMUWEBPROFILE001" {
		t.Errorf("profile %+v", p.InstanceProfile)
	}
	_, err = c.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("nope")})
	wantCode(t, err, "NoSuchEntity")
	_, err = c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nope")})
	wantCode(t, err, "NoSuchEntity")
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bad name!")})
	wantCode(t, err, "ValidationError")
}
