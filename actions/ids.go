package actions

import (
	"fmt"
	"regexp"
	"strings"
)

// AWS identifiers, checked by their real shapes when a configuration
// loads, so that what validate accepts is what apply can use: a typo or a
// placeholder ("sg-0isolation") is a diagnostic on its attribute, not an
// InvalidGroupId.Malformed at 3 a.m.

// IDKind is a kind of AWS identifier with its shape.
type IDKind struct {
	// Noun names it in messages: "security group ID".
	Noun string
	// Example is a well-formed one, shown in the message.
	Example string
	re      *regexp.Regexp
	// reject refuses what re lets through and AWS does not.
	reject func(string) bool
}

// Match reports whether s has the kind's shape.
func (k IDKind) Match(s string) bool {
	return k.re.MatchString(s) && (k.reject == nil || !k.reject(s))
}

// ec2ID is an EC2 resource id: the prefix, a hyphen and 8 (older
// resources) or 17 lowercase hex digits.
func ec2ID(prefix, noun, example string) IDKind {
	return IDKind{Noun: noun, Example: example, re: regexp.MustCompile(`^` + prefix + `-[0-9a-f]{8}(?:[0-9a-f]{9})?$`)}
}

// partitionRE matches the AWS partitions an ARN may name.
const partitionRE = `aws(?:-cn|-us-gov|-iso|-iso-[a-z])?`

// The identifier kinds cordon's configuration takes.
var (
	SecurityGroupID = ec2ID("sg", "security group ID", "sg-0123456789abcdef0")
	VPCID           = ec2ID("vpc", "VPC ID", "vpc-0123456789abcdef0")
	SubnetID        = ec2ID("subnet", "subnet ID", "subnet-0123456789abcdef0")
	InstanceID      = ec2ID("i", "instance ID", "i-0123456789abcdef0")
	ImageID         = ec2ID("ami", "AMI ID", "ami-0123456789abcdef0")
	SnapshotID      = ec2ID("snap", "snapshot ID", "snap-0123456789abcdef0")
	VolumeID        = ec2ID("vol", "volume ID", "vol-0123456789abcdef0")

	// AccountID is a 12-digit AWS account id.
	AccountID = IDKind{Noun: "AWS account ID", Example: "123456789012", re: regexp.MustCompile(`^\d{12}$`)}
	// IAMName is the name of an IAM user, role, instance profile or
	// inline policy: 1–128 of letters, digits and +=,.@_- (roles and
	// profiles are held to 64 by IAMRoleName).
	IAMName     = IDKind{Noun: "IAM name", Example: "incident-responder", re: regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)}
	IAMRoleName = IDKind{Noun: "IAM role name", Example: "cordon-responder", re: regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)}
	// InstanceProfileARN, RoleARN and UserARN may carry a path.
	InstanceProfileARN = IDKind{Noun: "instance profile ARN", Example: "arn:aws:iam::123456789012:instance-profile/quarantine",
		re: regexp.MustCompile(`^arn:` + partitionRE + `:iam::\d{12}:instance-profile/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,128}$`)}
	RoleARN = IDKind{Noun: "IAM role ARN", Example: "arn:aws:iam::123456789012:role/cordon-responder",
		re: regexp.MustCompile(`^arn:` + partitionRE + `:iam::\d{12}:role/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}$`)}
	UserARN = IDKind{Noun: "IAM user ARN", Example: "arn:aws:iam::123456789012:user/alice",
		re: regexp.MustCompile(`^arn:` + partitionRE + `:iam::\d{12}:user/(?:[\x21-\x7e]*/)?[\w+=,.@-]{1,64}$`)}
	// KMSKey is a KMS key id (a UUID or a multi-Region "mrk-" id), an
	// alias, or the ARN of either.
	KMSKey = IDKind{Noun: "KMS key ID, alias or ARN", Example: "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		re: regexp.MustCompile(`^(?:(?:arn:` + partitionRE + `:kms:[a-z0-9-]+:\d{12}:)?(?:key/)?(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|(?:arn:` + partitionRE + `:kms:[a-z0-9-]+:\d{12}:)?alias/[a-zA-Z0-9/_-]{1,250})$`)}
	// S3Bucket is a bucket name by S3's rules for new buckets: 3–63 of
	// lowercase letters, digits, dots and hyphens, starting and ending
	// with a letter or digit, not shaped like an IP address.
	S3Bucket = IDKind{Noun: "S3 bucket name", Example: "cordon-evidence", re: regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`),
		reject: badBucket}
	// SQSQueueURL is a queue's URL: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
	// (or the legacy REGION.queue.amazonaws.com host).
	SQSQueueURL = IDKind{Noun: "SQS queue URL", Example: "https://sqs.us-west-2.amazonaws.com/123456789012/cordon-findings",
		re: regexp.MustCompile(`^https://(?:sqs\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?|[a-z0-9-]+\.queue\.amazonaws\.com)/\d{12}/[A-Za-z0-9_-]{1,80}(?:\.fifo)?$`)}
)

// CheckID returns an *AttributeError naming attr when value is not a kind
// identifier.
func CheckID(attr string, kind IDKind, value string) error {
	if kind.Match(value) {
		return nil
	}
	return &AttributeError{Attribute: attr, Summary: "Invalid " + kind.Noun,
		Detail: fmt.Sprintf("%q is not a %s (like %s).", value, kind.Noun, kind.Example)}
}

var ipShaped = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)

// badBucket rejects what the bucket pattern lets through and S3 does not:
// two adjacent periods, a period next to a hyphen, an IP-address shape and
// the reserved prefixes and suffixes.
func badBucket(s string) bool {
	return strings.Contains(s, "..") || strings.Contains(s, ".-") || strings.Contains(s, "-.") ||
		ipShaped.MatchString(s) ||
		strings.HasPrefix(s, "xn--") || strings.HasPrefix(s, "sthree-") ||
		strings.HasSuffix(s, "-s3alias") || strings.HasSuffix(s, "--ol-s3")
}
