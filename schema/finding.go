// Package schema defines cordon's normalized finding and facts types, the
// parsers that turn detector output (GuardDuty, Security Hub ASFF, OCSF) into
// them, and the JSON Schemas that describe them to policies.
//
// Everything downstream of parsing (matching, policies, plans, state) sees only
// the normalized Finding, so adding a detector is a parser here and nothing
// else.
package schema

import "encoding/json"

// Sources a finding can come from.
const (
	SourceGuardDuty   = "guardduty"
	SourceSecurityHub = "securityhub"
	SourceOCSF        = "ocsf"
)

// Finding is the normalized shape of a detector's finding (docs/findings.md).
// Optional fields are empty when the source lacks them, never invented.
type Finding struct {
	ID            string  `json:"id"`
	Source        string  `json:"source"`
	Type          string  `json:"type"`
	Title         string  `json:"title,omitempty"`
	Description   string  `json:"description,omitempty"`
	Severity      string  `json:"severity"`
	SeverityScore float64 `json:"severity_score"`
	Account       string  `json:"account,omitempty"`
	Region        string  `json:"region,omitempty"`
	Partition     string  `json:"partition,omitempty"`
	CreatedAt     string  `json:"created_at,omitempty"`
	UpdatedAt     string  `json:"updated_at,omitempty"`
	Count         int     `json:"count"`
	// Sample is true for a sample finding: GuardDuty's generated samples
	// (service.additionalInfo.sample), ASFF's Sample. A sample finding never
	// plans an action that changes anything unless its rule sets
	// allow_sample_findings (docs/findings.md).
	Sample    bool       `json:"sample,omitempty"`
	Resource  Resource   `json:"resource"`
	Resources []Resource `json:"resources"`
	Network   *Network   `json:"network,omitempty"`
	Actor     *Actor     `json:"actor,omitempty"`
	// Raw is the original finding as it appeared in its input (the element
	// of an array or envelope, not the whole file): token for token, with
	// the line breaks and indentation of pretty-printed input dropped.
	Raw json.RawMessage `json:"raw"`

	// decoded is Raw already decoded by the parser, kept so the policy input
	// can be built without decoding the JSON a second time. It is dropped from
	// serialized forms.
	decoded any

	// productKey is ProductKey's value, worked out by the parser; it is
	// not part of the normalized shape (policies see the product in raw).
	productKey string

	// sampleMark is where the parser found the sample mark (SampleMark).
	sampleMark string
}

// Resource is an affected cloud resource, typed with Terraform's AWS resource
// names (aws_instance, aws_iam_access_key …).
type Resource struct {
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	ARN     string            `json:"arn,omitempty"`
	Tags    map[string]string `json:"tags"`
	Details map[string]any    `json:"details"`
}

// Network describes the network activity of a finding, where it has one.
type Network struct {
	Direction     string `json:"direction,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
	LocalIP       string `json:"local_ip,omitempty"`
	LocalPort     int    `json:"local_port,omitempty"`
	RemoteIP      string `json:"remote_ip,omitempty"`
	RemotePort    int    `json:"remote_port,omitempty"`
	RemoteCountry string `json:"remote_country,omitempty"`
	Domain        string `json:"domain,omitempty"`
}

// Actor is who or what acted, where the finding says.
type Actor struct {
	Type        string `json:"type,omitempty"`
	User        string `json:"user,omitempty"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	IP          string `json:"ip,omitempty"`
}

// Decoded returns the raw finding decoded as generic JSON (map[string]any,
// []any, string, json.Number, bool, nil), decoding Raw only if the parser did
// not keep it.
func (f *Finding) Decoded() any {
	if f.decoded == nil && len(f.Raw) > 0 {
		f.decoded, _ = decodeJSON(f.Raw)
	}
	return f.decoded
}

// ReleaseDecoded drops the decoded raw finding, so a long run over many
// findings keeps only the compact Raw bytes.
func (f *Finding) ReleaseDecoded() { f.decoded = nil }

// Resource types, named as Terraform's AWS provider names them.
const (
	ResourceInstance   = "aws_instance"
	ResourceAccessKey  = "aws_iam_access_key"
	ResourceIAMUser    = "aws_iam_user"
	ResourceIAMRole    = "aws_iam_role"
	ResourceS3Bucket   = "aws_s3_bucket"
	ResourceEKSCluster = "aws_eks_cluster"
	ResourceLambda     = "aws_lambda_function"
	ResourceDBInstance = "aws_db_instance"
	ResourceEBSVolume  = "aws_ebs_volume"
)
