package collectors

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// guarddutyRelatedCollector lists the other current GuardDuty findings
// about the investigated resource: what else the detector saw of it tells
// a lone alert from a pattern, and is the incident's scope.
type guarddutyRelatedCollector struct {
	detectorID  string // empty: the account's detector in the region
	maxFindings int
}

const (
	relatedDefaultMax = 50
	relatedMaxMax     = 1000
	// relatedPageSize is the most ListFindings lists and GetFindings
	// describes in one call.
	relatedPageSize = 50
)

// detectorIDPattern is GuardDuty's shape of a detector id.
var detectorIDPattern = regexp.MustCompile(`^[a-z0-9]{1,300}$`)

func init() {
	Register(&Definition{
		Type:           "aws_guardduty_related",
		Summary:        "Other GuardDuty findings on the same resource",
		DefaultTimeout: 30 * time.Second,
		FactsSchema:    "aws_guardduty_related",
		Attributes: hcldec.ObjectSpec{
			"detector_id":  &hcldec.AttrSpec{Name: "detector_id", Type: cty.String},
			"max_findings": &hcldec.AttrSpec{Name: "max_findings", Type: cty.Number},
		},
		New: newGuarddutyRelatedCollector,
	})
}

func newGuarddutyRelatedCollector(cfg cty.Value) (Collector, error) {
	c := &guarddutyRelatedCollector{}
	if v := cfg.GetAttr("detector_id"); !v.IsNull() && v.IsKnown() {
		c.detectorID = v.AsString()
		if !detectorIDPattern.MatchString(c.detectorID) {
			return nil, &AttributeError{Attribute: "detector_id", Summary: "Invalid detector ID",
				Detail: fmt.Sprintf("%q is not a GuardDuty detector ID (lowercase letters and digits, like 3caf4e0aaa46ce4ccbcef949a8785353); leave it out to use the account's detector in the finding's region.", c.detectorID)}
		}
	}
	n, err := boundedIntAttr(cfg, "max_findings", relatedDefaultMax, relatedMaxMax)
	if err != nil {
		return nil, err
	}
	c.maxFindings = n
	return c, nil
}

// Permissions are the calls Collect makes: with detector_id set it need
// not list detectors.
func (c *guarddutyRelatedCollector) Permissions() []string {
	if c.detectorID != "" {
		return []string{"guardduty:GetFindings", "guardduty:ListFindings"}
	}
	return []string{"guardduty:GetFindings", "guardduty:ListDetectors", "guardduty:ListFindings"}
}

func (c *guarddutyRelatedCollector) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	if req.AWS == nil {
		return nil, errors.New("aws_guardduty_related needs AWS access, and this run has none")
	}
	if req.Finding == nil {
		return nil, errors.New("aws_guardduty_related needs the finding's account and region")
	}
	criterion, err := relatedCriterion(req.Resource)
	if err != nil {
		return nil, err
	}
	// Current findings only: archived ones were dismissed by a responder
	// or a suppression rule.
	criterion["service.archived"] = gdtypes.Condition{Equals: []string{"false"}}

	account, region := req.Finding.Account, req.Finding.Region
	client := req.AWS.GuardDuty(account, region)
	detectors, err := c.detectors(ctx, client, account, region)
	if err != nil {
		return nil, err
	}

	// Up to one more than kept, to know whether any were left out; the
	// most recently updated first, so those are the ones kept.
	type listed struct{ detector, id string }
	var ids []listed
	truncated := false
list:
	for _, d := range detectors {
		pages := guardduty.NewListFindingsPaginator(client, &guardduty.ListFindingsInput{
			DetectorId:      aws.String(d),
			FindingCriteria: &gdtypes.FindingCriteria{Criterion: criterion},
			SortCriteria:    &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByDesc},
			MaxResults:      aws.Int32(relatedPageSize),
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing GuardDuty findings about %s %s (detector %s): %w", req.Resource.Type, req.Resource.ID, d, err)
			}
			for _, id := range page.FindingIds {
				if isSameFinding(req.Finding.ID, id) {
					continue
				}
				if len(ids) == c.maxFindings {
					truncated = true
					break list
				}
				ids = append(ids, listed{d, id})
			}
		}
	}

	var entries []relatedEntry
	for start := 0; start < len(ids); {
		d := ids[start].detector
		var batch []string
		for start < len(ids) && ids[start].detector == d && len(batch) < relatedPageSize {
			batch = append(batch, ids[start].id)
			start++
		}
		out, err := client.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(d), FindingIds: batch})
		if err != nil {
			return nil, fmt.Errorf("getting %d GuardDuty findings (detector %s): %w", len(batch), d, err)
		}
		for i := range out.Findings {
			entries = append(entries, relatedEntryOf(&out.Findings[i]))
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].updated.Equal(entries[j].updated) {
			return entries[i].updated.Before(entries[j].updated)
		}
		return entries[i].id < entries[j].id
	})
	findings := make([]any, len(entries))
	for i := range entries {
		findings[i] = entries[i].facts()
	}
	return map[string]any{"findings": findings, "truncated": truncated}, nil
}

// detectors are the configured detector, or the account's in the region
// (GuardDuty has at most one per account and region).
func (c *guarddutyRelatedCollector) detectors(ctx context.Context, client *guardduty.Client, account, region string) ([]string, error) {
	if c.detectorID != "" {
		return []string{c.detectorID}, nil
	}
	var ids []string
	pages := guardduty.NewListDetectorsPaginator(client, &guardduty.ListDetectorsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing GuardDuty detectors: %w", err)
		}
		ids = append(ids, page.DetectorIds...)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("GuardDuty has no detector in account %s, region %s: it is not enabled there", account, region)
	}
	return ids, nil
}

// relatedCriterion selects the findings about a resource, by the finding
// attribute GuardDuty records it in.
func relatedCriterion(r schema.Resource) (map[string]gdtypes.Condition, error) {
	if r.ID == "" {
		return nil, fmt.Errorf("the finding's resource (type %q) has no id to search GuardDuty findings by", r.Type)
	}
	eq := func(v string) gdtypes.Condition { return gdtypes.Condition{Equals: []string{v}} }
	switch r.Type {
	case schema.ResourceInstance:
		return map[string]gdtypes.Condition{"resource.instanceDetails.instanceId": eq(r.ID)}, nil
	case schema.ResourceAccessKey:
		return map[string]gdtypes.Condition{"resource.accessKeyDetails.accessKeyId": eq(r.ID)}, nil
	case schema.ResourceIAMUser:
		return map[string]gdtypes.Condition{"resource.accessKeyDetails.userName": eq(r.ID), "resource.accessKeyDetails.userType": eq("IAMUser")}, nil
	case schema.ResourceIAMRole:
		// A role session's findings name the role as the key's user.
		return map[string]gdtypes.Condition{"resource.accessKeyDetails.userName": eq(r.ID), "resource.accessKeyDetails.userType": eq("AssumedRole")}, nil
	case schema.ResourceS3Bucket:
		return map[string]gdtypes.Condition{"resource.s3BucketDetails.name": eq(r.ID)}, nil
	case schema.ResourceEKSCluster:
		return map[string]gdtypes.Condition{"resource.eksClusterDetails.name": eq(r.ID)}, nil
	case schema.ResourceLambda:
		return map[string]gdtypes.Condition{"resource.lambdaDetails.functionName": eq(r.ID)}, nil
	case schema.ResourceDBInstance:
		return map[string]gdtypes.Condition{"resource.rdsDbInstanceDetails.dbInstanceIdentifier": eq(r.ID)}, nil
	}
	return nil, fmt.Errorf("GuardDuty findings cannot be searched by a resource of type %q", r.Type)
}

// isSameFinding reports whether the GuardDuty finding id is the
// investigated finding: its id, or the end of its ARN (Security Hub and
// OCSF name GuardDuty findings by ARN).
func isSameFinding(findingID, id string) bool {
	return findingID == id || strings.HasSuffix(findingID, "/finding/"+id)
}

// relatedEntry is one related finding as the facts show it.
type relatedEntry struct {
	id, typ, title string
	score          float64
	updated        time.Time
}

func relatedEntryOf(f *gdtypes.Finding) relatedEntry {
	e := relatedEntry{
		id:    aws.ToString(f.Id),
		typ:   aws.ToString(f.Type),
		title: clipFactString(aws.ToString(f.Title)),
		score: aws.ToFloat64(f.Severity),
	}
	if t, err := time.Parse(time.RFC3339Nano, aws.ToString(f.UpdatedAt)); err == nil {
		e.updated = t.UTC()
	}
	return e
}

func (e *relatedEntry) facts() map[string]any {
	m := map[string]any{
		"id":             e.id,
		"type":           e.typ,
		"severity":       schema.GuardDutySeverity(e.score),
		"severity_score": e.score,
		"title":          e.title,
	}
	if !e.updated.IsZero() {
		m["updated_at"] = e.updated.Format(time.RFC3339Nano)
	}
	return m
}
