package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// IncidentTagKey is the tag every tagging action writes unless told
// otherwise, so a responder in the console sees at once that a resource is
// part of an incident.
const IncidentTagKey = "cordon:incident"

// ec2Tag tags the target. "{incident}" in a configured tag value is
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
			a := ec2Tag{tags: attrStringMap(cfg, "tags")}
			if err := checkTagSet("tags", a.tags); err != nil {
				return nil, err
			}
			return a, nil
		},
	})
}

// checkTagSet rejects tags EC2 and IAM would refuse, so that the mistake
// shows at validate rather than halfway through a response.
func checkTagSet(attr string, tags map[string]string) error {
	for _, k := range sortedKeys(tags) {
		// Measured with an incident id in place: "inc-" and 16 hex digits.
		v := strings.ReplaceAll(tags[k], "{incident}", "inc-0123456789abcdef")
		var why string
		switch {
		case k == "":
			why = "a tag key must not be empty"
		case utf8.RuneCountInString(k) > 128:
			why = fmt.Sprintf("tag key %q is longer than 128 characters", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			why = fmt.Sprintf("tag key %q: keys starting with \"aws:\" are reserved for AWS", k)
		case utf8.RuneCountInString(v) > 256:
			why = fmt.Sprintf("the value of tag %q is longer than 256 characters", k)
		}
		if why != "" {
			return &AttributeError{Attribute: attr, Summary: "Invalid tag", Detail: why + "."}
		}
	}
	if len(tags) > 50 {
		return &AttributeError{Attribute: attr, Summary: "Too many tags", Detail: fmt.Sprintf("%d tags; a resource holds at most 50.", len(tags))}
	}
	return nil
}

// tagsFor returns the tags to write for an incident.
func (a ec2Tag) tagsFor(incidentID string) map[string]string {
	if len(a.tags) == 0 {
		return map[string]string{IncidentTagKey: incidentID}
	}
	out := make(map[string]string, len(a.tags))
	for k, v := range a.tags {
		out[k] = strings.ReplaceAll(v, "{incident}", incidentID)
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

// Grants: tags are written on the target itself, and only the keys the
// action writes (aws:TagKeys): ec2:CreateTags and ec2:DeleteTags on
// instances and volumes (ec2:ResourceTag), iam:TagUser and friends on
// users and roles (aws:ResourceTag). Each only when the scopes can hold
// such a target. Source: the Service Authorization Reference for Amazon
// EC2 and for IAM.
func (a ec2Tag) Grants() []Grant {
	keys := tagKeysCondition(sortedKeys(a.tagsFor(""))...)
	return []Grant{
		{Name: "Read", Actions: []string{"ec2:DescribeTags"}, Resources: allResources,
			TargetTypes: []string{schema.ResourceInstance, schema.ResourceEBSVolume}},
		{Actions: []string{"ec2:CreateTags", "ec2:DeleteTags"}, Resources: []string{ec2InstanceARN, ec2VolumeARN},
			TargetTagKey: ec2TagKey, TargetTypes: []string{schema.ResourceInstance, schema.ResourceEBSVolume}, Conditions: keys},
		{Name: "Users", Actions: []string{"iam:ListUserTags", "iam:TagUser", "iam:UntagUser"}, Resources: []string{iamUserARN},
			TargetTagKey: awsTagKey, TargetTypes: []string{schema.ResourceIAMUser}, Conditions: keys},
		{Name: "Roles", Actions: []string{"iam:ListRoleTags", "iam:TagRole", "iam:UntagRole"}, Resources: []string{iamRoleARN},
			TargetTagKey: awsTagKey, TargetTypes: []string{schema.ResourceIAMRole}, Conditions: keys},
	}
}

func (a ec2Tag) Permissions() []string { return grantActions(a.Grants()) }

// Read returns the current values of the keys the action writes (absent
// keys are left out), so tags the action does not own never show as drift.
func (a ec2Tag) Read(ctx context.Context, env *Env, req *Request) (map[string]any, error) {
	want := a.tagsFor(req.IncidentID)
	cur, err := readTags(ctx, env, req, sortedKeys(want))
	if err != nil {
		return nil, err
	}
	return map[string]any{"tags": tagMap(cur)}, nil
}

func (a ec2Tag) Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (map[string]any, bool, error) {
	want := a.tagsFor(req.IncidentID)
	cur, ok := jsonStringMap(live["tags"])
	if !ok {
		var err error
		if cur, err = readTags(ctx, env, req, sortedKeys(want)); err != nil {
			return nil, false, err
		}
	}
	set := map[string]string{}
	for k, v := range want {
		if old, ok := cur[k]; !ok || old != v {
			set[k] = v
		}
	}
	after := map[string]any{"tags": tagMap(want)}
	if len(set) == 0 {
		return after, false, nil
	}
	if err := writeTags(ctx, env, req, set, nil); err != nil {
		return nil, false, err
	}
	return after, true, nil
}

// Revert removes the keys that did not exist before and gives the others
// their old values back.
func (a ec2Tag) Revert(ctx context.Context, env *Env, req *Request, before, after map[string]any) (map[string]any, error) {
	old, ok := jsonStringMap(before["tags"])
	if !ok {
		return nil, fmt.Errorf("reverting the tags of %s: the recorded before-state has no tags", req.Target.ID)
	}
	written, ok := jsonStringMap(after["tags"])
	if !ok {
		written = a.tagsFor(req.IncidentID)
	}
	restore, remove := map[string]string{}, map[string]string{}
	for k, v := range written {
		if was, existed := old[k]; !existed {
			remove[k] = v
		} else if was != v {
			restore[k] = was
		}
	}
	if err := writeTags(ctx, env, req, restore, remove); err != nil {
		return nil, err
	}
	restored := map[string]string{}
	for k := range written {
		if v, existed := old[k]; existed {
			restored[k] = v
		}
	}
	return map[string]any{"tags": tagMap(restored)}, nil
}

// readTags returns the target's values of keys (those it has).
func readTags(ctx context.Context, env *Env, req *Request, keys []string) (map[string]string, error) {
	t := req.Target
	cur := map[string]string{}
	switch t.Type {
	case schema.ResourceInstance, schema.ResourceEBSVolume:
		p := ec2.NewDescribeTagsPaginator(env.AWS.EC2(t.Account, t.Region), &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
			{Name: aws.String("resource-id"), Values: []string{t.ID}},
			{Name: aws.String("key"), Values: keys},
		}})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading the tags of %s: %w", t.ID, err)
			}
			for _, tag := range out.Tags {
				if aws.ToString(tag.ResourceId) == t.ID {
					cur[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
				}
			}
		}
	case schema.ResourceIAMUser:
		p := iam.NewListUserTagsPaginator(env.AWS.IAM(t.Account, t.Region), &iam.ListUserTagsInput{UserName: aws.String(t.ID)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading the tags of IAM user %s: %w", t.ID, err)
			}
			addIAMTags(cur, out.Tags)
		}
	case schema.ResourceIAMRole:
		p := iam.NewListRoleTagsPaginator(env.AWS.IAM(t.Account, t.Region), &iam.ListRoleTagsInput{RoleName: aws.String(t.ID)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading the tags of IAM role %s: %w", t.ID, err)
			}
			addIAMTags(cur, out.Tags)
		}
	default:
		return nil, fmt.Errorf("aws_ec2_tag cannot tag a %s", t.Type)
	}
	// IAM lists every tag; keep the keys asked for.
	for k := range cur {
		if !slices.Contains(keys, k) {
			delete(cur, k)
		}
	}
	return cur, nil
}

func addIAMTags(into map[string]string, tags []iamtypes.Tag) {
	for _, tag := range tags {
		into[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
}

// writeTags sets the tags in set and removes those in remove. EC2 removes
// a tag only while it still has the value given, so a value someone else
// wrote since is kept; IAM removes by key.
func writeTags(ctx context.Context, env *Env, req *Request, set, remove map[string]string) error {
	t := req.Target
	switch t.Type {
	case schema.ResourceInstance, schema.ResourceEBSVolume:
		client := env.AWS.EC2(t.Account, t.Region)
		if len(set) > 0 {
			if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{t.ID}, Tags: ec2Tags(set)}); err != nil {
				return fmt.Errorf("tagging %s: %w", t.ID, err)
			}
		}
		if len(remove) > 0 {
			if _, err := client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{t.ID}, Tags: ec2Tags(remove)}); err != nil {
				return fmt.Errorf("removing tags %s from %s: %w", strings.Join(sortedKeys(remove), ", "), t.ID, err)
			}
		}
	case schema.ResourceIAMUser:
		client := env.AWS.IAM(t.Account, t.Region)
		if len(set) > 0 {
			if _, err := client.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(t.ID), Tags: iamTags(set)}); err != nil {
				return fmt.Errorf("tagging IAM user %s: %w", t.ID, err)
			}
		}
		if len(remove) > 0 {
			if _, err := client.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String(t.ID), TagKeys: sortedKeys(remove)}); err != nil {
				return fmt.Errorf("removing tags %s from IAM user %s: %w", strings.Join(sortedKeys(remove), ", "), t.ID, err)
			}
		}
	case schema.ResourceIAMRole:
		client := env.AWS.IAM(t.Account, t.Region)
		if len(set) > 0 {
			if _, err := client.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(t.ID), Tags: iamTags(set)}); err != nil {
				return fmt.Errorf("tagging IAM role %s: %w", t.ID, err)
			}
		}
		if len(remove) > 0 {
			if _, err := client.UntagRole(ctx, &iam.UntagRoleInput{RoleName: aws.String(t.ID), TagKeys: sortedKeys(remove)}); err != nil {
				return fmt.Errorf("removing tags %s from IAM role %s: %w", strings.Join(sortedKeys(remove), ", "), t.ID, err)
			}
		}
	default:
		return fmt.Errorf("aws_ec2_tag cannot tag a %s", t.Type)
	}
	return nil
}

func ec2Tags(m map[string]string) []ec2types.Tag {
	out := make([]ec2types.Tag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func iamTags(m map[string]string) []iamtypes.Tag {
	out := make([]iamtypes.Tag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, iamtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// tagMap is a tag set in the JSON shape of a state.
func tagMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// jsonStringMap reads a JSON object of strings (map[string]any or
// map[string]string); ok is false for anything else.
func jsonStringMap(v any) (map[string]string, bool) {
	switch m := v.(type) {
	case map[string]string:
		return m, true
	case map[string]any:
		out := make(map[string]string, len(m))
		for k, e := range m {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[k] = s
		}
		return out, true
	}
	return nil, false
}
