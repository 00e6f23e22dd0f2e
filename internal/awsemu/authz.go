package awsemu

import (
	"fmt"
	"sort"
	"strings"
)

// Authorization is what AWS evaluates policies against for one request:
// an IAM action, one resource the request acts on (its ARN, or "*" for an
// action that supports no resource-level permissions) and the condition
// keys the request and that resource bring. A request is allowed only if
// every one of its authorizations is.
//
// Handlers of actions that support resource-level permissions authorize
// each resource as AWS's Service Authorization Reference lists it for the
// action (required resource types always, optional ones when the request
// involves them), before changing anything; the others are authorized
// against "*" before the handler runs. Calls record their authorizations,
// so a test can check a policy against what a run really asked for
// (Allows).
type Authorization struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
	// Context holds the request's and the resource's condition keys, in
	// lower case ("ec2:resourcetag/environment", "aws:tagkeys"). Keys of
	// the caller (aws:PrincipalArn, aws:TokenIssueTime …) are evaluated
	// from the request and not recorded.
	Context map[string][]string `json:"context,omitempty"`
}

// authzItem is one resource of a request, with its own condition keys.
type authzItem struct {
	arn  string
	keys map[string][]string
}

// resourceLevel lists the operations whose handlers authorize their
// resources themselves. Every other operation is authorized against "*"
// before its handler runs, as the Service Authorization Reference lists
// no resource type for it (Describe*, List*, LookupEvents …).
var resourceLevel = map[string]bool{
	"ec2:ModifyNetworkInterfaceAttribute": true, "ec2:ModifyInstanceAttribute": true,
	"ec2:CreateTags": true, "ec2:DeleteTags": true,
	"ec2:CreateSnapshot": true, "ec2:CreateSnapshots": true,
	"ec2:ModifySnapshotAttribute": true, "ec2:CopySnapshot": true,
	"ec2:StopInstances": true, "ec2:StartInstances": true,
	"ec2:AssociateIamInstanceProfile": true, "ec2:DisassociateIamInstanceProfile": true,
	"ec2:ReplaceIamInstanceProfileAssociation": true,
	"ec2:GetConsoleOutput":                     true, "ec2:GetConsoleScreenshot": true,
	"ec2:CreateSecurityGroup": true, "ec2:RevokeSecurityGroupEgress": true,
	"ec2:AuthorizeSecurityGroupIngress": true, "ec2:AuthorizeSecurityGroupEgress": true,

	"iam:ListAccessKeys": true, "iam:UpdateAccessKey": true, "iam:GetAccessKeyLastUsed": true,
	"iam:PutUserPolicy": true, "iam:GetUserPolicy": true, "iam:DeleteUserPolicy": true, "iam:ListUserPolicies": true,
	"iam:PutRolePolicy": true, "iam:GetRolePolicy": true, "iam:DeleteRolePolicy": true, "iam:ListRolePolicies": true,
	"iam:GetInstanceProfile": true,
	"iam:TagUser":            true, "iam:UntagUser": true, "iam:ListUserTags": true,
	"iam:TagRole": true, "iam:UntagRole": true, "iam:ListRoleTags": true,
	"iam:GetUser": true, "iam:GetRole": true,

	"sts:AssumeRole": true,

	"kms:DescribeKey": true, "kms:GetKeyPolicy": true,

	"ssm:SendCommand": true,

	"autoscaling:DetachInstances": true, "autoscaling:AttachInstances": true,

	"elasticloadbalancing:RegisterTargets": true, "elasticloadbalancing:DeregisterTargets": true,
	"elasticloadbalancing:RegisterInstancesWithLoadBalancer":   true,
	"elasticloadbalancing:DeregisterInstancesFromLoadBalancer": true,

	"guardduty:ListFindings": true, "guardduty:GetFindings": true,

	"sqs:CreateQueue": true, "sqs:GetQueueUrl": true, "sqs:GetQueueAttributes": true, "sqs:SetQueueAttributes": true,
	"sqs:DeleteQueue": true, "sqs:PurgeQueue": true, "sqs:SendMessage": true, "sqs:SendMessageBatch": true,
	"sqs:ReceiveMessage": true, "sqs:DeleteMessage": true, "sqs:DeleteMessageBatch": true,
	"sqs:ChangeMessageVisibility": true, "sqs:ChangeMessageVisibilityBatch": true,
}

// action is the request's own IAM action, "ec2:StopInstances".
func (r *request) action() string { return r.api.prefix + ":" + r.op }

// authorize evaluates the caller's policies for action on each item, and
// records the authorizations on the call. A denial is the service's own
// access-denied error, naming the resource.
func (r *request) authorize(action string, items ...authzItem) error {
	r.authorized = true
	for _, it := range items {
		az := Authorization{Action: action, Resource: it.arn, Context: r.contextFor(it)}
		r.call.Authorizations = append(r.call.Authorizations, az)
		if why := r.e.evaluate(r, az); why != "" {
			return r.api.accessDenied(action, r.caller.arn, it.arn, why)
		}
	}
	return nil
}

// contextFor merges the request's keys (tags requested, ec2:CreateAction
// …) with the item's.
func (r *request) contextFor(it authzItem) map[string][]string {
	if len(r.reqKeys) == 0 && len(it.keys) == 0 {
		return nil
	}
	out := make(map[string][]string, len(r.reqKeys)+len(it.keys))
	for k, v := range r.reqKeys {
		out[k] = v
	}
	for k, v := range it.keys {
		out[k] = v
	}
	return out
}

// setRequestTags adds the request's tag keys: aws:RequestTag/<key> for
// each tag and aws:TagKeys for them all, as any request that tags does.
func (r *request) setRequestTags(tags map[string]string) {
	if len(tags) == 0 {
		return
	}
	if r.reqKeys == nil {
		r.reqKeys = map[string][]string{}
	}
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		r.reqKeys["aws:requesttag/"+strings.ToLower(k)] = []string{v}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r.reqKeys["aws:tagkeys"] = keys
}

// setRequestKey sets one request-level condition key.
func (r *request) setRequestKey(key string, values ...string) {
	if r.reqKeys == nil {
		r.reqKeys = map[string][]string{}
	}
	r.reqKeys[strings.ToLower(key)] = values
}

// tagKeys gives a resource's tags as condition keys under each prefix
// ("ec2:ResourceTag/", "aws:ResourceTag/").
func tagKeys(tags map[string]string, prefixes ...string) map[string][]string {
	out := make(map[string][]string, len(tags)*len(prefixes))
	for k, v := range tags {
		for _, p := range prefixes {
			out[strings.ToLower(p+k)] = []string{v}
		}
	}
	return out
}

// ec2Item is an EC2 resource: its ARN and its tags as ec2:ResourceTag
// and aws:ResourceTag keys, with extra keys (ec2:Vpc …). Snapshot (and
// image) ARNs have no account.
func (r *request) ec2Item(kind, id string, tags map[string]string, extra ...string) authzItem {
	acct := r.acct.ID
	if kind == "snapshot" {
		acct = ""
	}
	keys := tagKeys(tags, "ec2:ResourceTag/", "aws:ResourceTag/")
	keys["ec2:region"] = []string{r.region.Name}
	for i := 0; i+1 < len(extra); i += 2 {
		keys[strings.ToLower(extra[i])] = []string{extra[i+1]}
	}
	return authzItem{arn: fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", r.region.Name, acct, kind, id), keys: keys}
}

// vpcARN is the ARN of a VPC of the request's account and region, the
// value of ec2:Vpc.
func (r *request) vpcARN(id string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:vpc/%s", r.region.Name, r.acct.ID, id)
}

// instanceItem is an instance, its tags and the ec2:InstanceID key.
func (r *request) instanceItem(in *Instance) authzItem {
	return r.ec2Item("instance", in.ID, in.Tags, "ec2:InstanceID", in.ID)
}

// eniItem is a network interface, with ec2:Vpc, ec2:Subnet and
// ec2:NetworkInterfaceID.
func (r *request) eniItem(e *NetworkInterface) authzItem {
	return r.ec2Item("network-interface", e.ID, e.Tags, "ec2:NetworkInterfaceID", e.ID, "ec2:Vpc", r.vpcARN(e.VPCID),
		"ec2:Subnet", fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", r.region.Name, r.acct.ID, e.SubnetID), "ec2:AvailabilityZone", e.AvailabilityZone)
}

// groupItems are security groups (which exist), with ec2:Vpc and
// ec2:SecurityGroupID.
func (r *request) groupItems(ids []string) []authzItem {
	out := make([]authzItem, 0, len(ids))
	for _, id := range ids {
		if g := r.region.SecurityGroups[id]; g != nil {
			out = append(out, r.groupItem(g))
		}
	}
	return out
}

func (r *request) groupItem(g *SecurityGroup) authzItem {
	return r.ec2Item("security-group", g.ID, g.Tags, "ec2:SecurityGroupID", g.ID, "ec2:Vpc", r.vpcARN(g.VPC))
}

// iamItem is an IAM user or role: its ARN and tags (aws:ResourceTag and
// iam:ResourceTag).
func iamItem(arn string, tags map[string]string) authzItem {
	return authzItem{arn: arn, keys: tagKeys(tags, "aws:ResourceTag/", "iam:ResourceTag/")}
}

// plainItem is a resource that brings no condition keys of its own.
func plainItem(arn string) authzItem { return authzItem{arn: arn} }

// anyResource is the authorization of an action without resource-level
// permissions.
var anyResource = authzItem{arn: "*"}
