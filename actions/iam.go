package actions

import (
	"sort"
)

// Grant is one statement of the policy `cordon iam-policy` prints: API
// actions an action type calls on one kind of resource, with the
// conditions that narrow them. Resource types and condition keys are
// those AWS's Service Authorization Reference lists for each action
// (https://docs.aws.amazon.com/service-authorization/latest/reference/);
// each type's Grants cites what it relies on.
//
// The engine fills ${Partition}, ${Region} and ${Account} in Resources
// from the scopes of the rules that can plan the action, and, for a grant
// on the action's target (TargetTagKey set), adds the conditions on tags
// that all of those scopes require.
type Grant struct {
	// Name tells a type's grants apart in statement ids: "" for the one
	// on the target, "Read", "Network" … (CordonActionEc2IsolateRead).
	Name string
	// Actions are the IAM actions, "ec2:ModifyNetworkInterfaceAttribute".
	Actions []string
	// Resources are ARN patterns, or "*" for actions that support no
	// resource-level permissions (describe and list calls).
	Resources []string
	// TargetTagKey, when set, says the resources are the action's target,
	// which passed its rule's scope: the engine conditions the grant on
	// the scopes' tags under this key ("ec2:ResourceTag/",
	// "aws:ResourceTag/", "ssm:resourceTag/").
	TargetTagKey string
	// TargetTypes limits the grant to configurations whose scopes can
	// hold a target of one of these resource types; nil: always.
	TargetTypes []string
	// Conditions are fixed conditions: operator → key → values.
	Conditions map[string]map[string][]string
}

// Granter is an Executor whose permissions are detailed as grants.
// Permissions (Executor) lists the same IAM actions.
type Granter interface {
	Grants() []Grant
}

// ARN patterns of the resources cordon's actions act on, with the
// placeholders the engine fills. EC2 snapshots (like AMIs) have no
// account in their ARN.
const (
	ec2InstanceARN = "arn:${Partition}:ec2:${Region}:${Account}:instance/*"
	ec2VolumeARN   = "arn:${Partition}:ec2:${Region}:${Account}:volume/*"
	ec2SnapshotARN = "arn:${Partition}:ec2:${Region}::snapshot/*"
	ec2ENIARN      = "arn:${Partition}:ec2:${Region}:${Account}:network-interface/*"
	ec2GroupARN    = "arn:${Partition}:ec2:${Region}:${Account}:security-group/*"
	ec2VPCARN      = "arn:${Partition}:ec2:${Region}:${Account}:vpc/*"
	iamUserARN     = "arn:${Partition}:iam::${Account}:user/*"
	iamRoleARN     = "arn:${Partition}:iam::${Account}:role/*"
	iamProfileARN  = "arn:${Partition}:iam::${Account}:instance-profile/*"
)

// Condition keys of EC2 resources' tags and of IAM users' and roles'.
const (
	ec2TagKey = "ec2:ResourceTag/"
	awsTagKey = "aws:ResourceTag/"
)

// allResources is the Resource of actions without resource-level
// permissions.
var allResources = []string{"*"}

// grantActions lists the IAM actions of grants, sorted and unique: an
// action type's Permissions.
func grantActions(grants []Grant) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range grants {
		for _, a := range g.Actions {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// tagKeysCondition allows requests that write only the given tag keys.
func tagKeysCondition(keys ...string) map[string]map[string][]string {
	return map[string]map[string][]string{"ForAllValues:StringEquals": {"aws:TagKeys": keys}}
}
