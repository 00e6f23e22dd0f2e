package awsemu

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
)

func criteria(m map[string]gdtypes.Condition) *gdtypes.FindingCriteria {
	return &gdtypes.FindingCriteria{Criterion: m}
}

func TestGuardDuty(t *testing.T) {
	e := newEnv(t)
	c := guardduty.NewFromConfig(e.prod())
	d, err := c.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	wantOK(t, err)
	if !slices.Equal(d.DetectorIds, []string{detectorID}) {
		t.Fatalf("detectors %v", d.DetectorIds)
	}
	west := guardduty.NewFromConfig(e.config("us-west-2", aliceKey, "", 3))
	d, err = west.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	wantOK(t, err)
	if len(d.DetectorIds) != 0 {
		t.Errorf("us-west-2 detectors %v", d.DetectorIds)
	}

	cases := []struct {
		name string
		in   guardduty.ListFindingsInput
		want []string
	}{
		{"all", guardduty.ListFindingsInput{}, []string{findingC2, findingProbe, findingKey}},
		{"instance", guardduty.ListFindingsInput{FindingCriteria: criteria(map[string]gdtypes.Condition{"resource.instanceDetails.instanceId": {Equals: []string{web1}}})}, []string{findingC2, findingProbe}},
		{"access key", guardduty.ListFindingsInput{FindingCriteria: criteria(map[string]gdtypes.Condition{"resource.accessKeyDetails.accessKeyId": {Eq: []string{malloryKey}}})}, []string{findingKey}},
		{"severity", guardduty.ListFindingsInput{FindingCriteria: criteria(map[string]gdtypes.Condition{"severity": {GreaterThanOrEqual: aws.Int64(5)}})}, []string{findingC2, findingKey}},
		{"updated after", guardduty.ListFindingsInput{FindingCriteria: criteria(map[string]gdtypes.Condition{"updatedAt": {GreaterThan: aws.Int64(1740787200000)}})}, []string{findingC2, findingKey}},
		{"not the probe", guardduty.ListFindingsInput{FindingCriteria: criteria(map[string]gdtypes.Condition{"type": {NotEquals: []string{"Recon:EC2/PortProbeUnprotectedPort"}}})}, []string{findingC2, findingKey}},
		{"sorted by severity", guardduty.ListFindingsInput{SortCriteria: &gdtypes.SortCriteria{AttributeName: aws.String("severity"), OrderBy: gdtypes.OrderByAsc}}, []string{findingProbe, findingKey, findingC2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.DetectorId = aws.String(detectorID)
			out, err := c.ListFindings(ctx, &tc.in)
			wantOK(t, err)
			if !slices.Equal(out.FindingIds, tc.want) {
				t.Errorf("got %v, want %v", out.FindingIds, tc.want)
			}
		})
	}

	var ids []string
	p := guardduty.NewListFindingsPaginator(c, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		wantOK(t, err)
		ids = append(ids, page.FindingIds...)
	}
	if len(ids) != 3 {
		t.Errorf("paged %v", ids)
	}

	got, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detectorID), FindingIds: []string{findingC2, "absent", findingKey}})
	wantOK(t, err)
	if len(got.Findings) != 2 {
		t.Fatalf("%d findings", len(got.Findings))
	}
	f := got.Findings[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"type", *f.Type, "Backdoor:EC2/C&CActivity.B!DNS"},
		{"severity", *f.Severity, 8.0},
		{"instance", *f.Resource.InstanceDetails.InstanceId, web1},
		{"launch time", *f.Resource.InstanceDetails.LaunchTime, "2025-01-02T08:00:00.000Z"},
		{"groups", *f.Resource.InstanceDetails.NetworkInterfaces[0].SecurityGroups[1].GroupId, sgApp},
		{"action", *f.Service.Action.ActionType, "DNS_REQUEST"},
		{"domain", *f.Service.Action.DnsRequestAction.Domain, "c2.example.net"},
		{"updated", *f.UpdatedAt, "2025-03-01T11:30:00.000Z"},
		{"key user", *got.Findings[1].Resource.AccessKeyDetails.UserName, "mallory"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	errs := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown detector", func() error {
			_, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String("0000")})
			return err
		}, "BadRequestException"},
		{"unsupported criterion", func() error {
			_, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID), FindingCriteria: criteria(map[string]gdtypes.Condition{"colour": {Eq: []string{"red"}}})})
			return err
		}, "BadRequestException"},
		{"page too large", func() error {
			_, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID), MaxResults: aws.Int32(51)})
			return err
		}, "BadRequestException"},
		{"too many ids", func() error {
			ids := make([]string, 51)
			for i := range ids {
				ids[i] = fmt.Sprint(i)
			}
			_, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detectorID), FindingIds: ids})
			return err
		}, "BadRequestException"},
		{"bad token", func() error {
			_, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID), NextToken: aws.String("x")})
			return err
		}, "BadRequestException"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	e.emu.Faults().ServerError("guardduty:GetFindings", 5)
	one := guardduty.NewFromConfig(e.config("us-east-1", aliceKey, "", 1))
	_, err = one.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detectorID), FindingIds: []string{findingC2}})
	wantCode(t, err, "InternalServerErrorException")
}

// TestGuardDutyResourceCriteria filters on the attribute of each resource
// type a finding can be about, and lets Fail faults name those resources.
func TestGuardDutyResourceCriteria(t *testing.T) {
	e := newEnv(t)
	findings := []string{
		`{"id":"e0000000000000000000000000000001","type":"Policy:S3/BucketBlockPublicAccessDisabled","severity":2,"createdAt":"2025-03-01T09:00:00.000Z","updatedAt":"2025-03-01T09:00:00.000Z",
		  "resource":{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"prod-data"}]},"service":{"archived":false}}`,
		`{"id":"e0000000000000000000000000000002","type":"Execution:Lambda/SuspiciousTool","severity":8,"createdAt":"2025-03-01T09:00:00.000Z","updatedAt":"2025-03-01T09:00:00.000Z",
		  "resource":{"resourceType":"Lambda","lambdaDetails":{"functionName":"resize"}},"service":{"archived":false}}`,
		`{"id":"e0000000000000000000000000000003","type":"CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin","severity":5,"createdAt":"2025-03-01T09:00:00.000Z","updatedAt":"2025-03-01T09:00:00.000Z",
		  "resource":{"resourceType":"RDSDBInstance","rdsDbInstanceDetails":{"dbInstanceIdentifier":"orders"}},"service":{"archived":true}}`,
	}
	for _, f := range findings {
		if err := e.emu.AddFinding(prodAccount, "us-east-1", detectorID, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	c := guardduty.NewFromConfig(e.prod())
	cases := []struct {
		name string
		crit map[string]gdtypes.Condition
		want []string
	}{
		{"bucket", map[string]gdtypes.Condition{"resource.s3BucketDetails.name": {Equals: []string{"prod-data"}}}, []string{"e0000000000000000000000000000001"}},
		{"function", map[string]gdtypes.Condition{"resource.lambdaDetails.functionName": {Equals: []string{"resize"}}}, []string{"e0000000000000000000000000000002"}},
		{"database", map[string]gdtypes.Condition{"resource.rdsDbInstanceDetails.dbInstanceIdentifier": {Equals: []string{"orders"}}}, []string{"e0000000000000000000000000000003"}},
		{"database, current only", map[string]gdtypes.Condition{
			"resource.rdsDbInstanceDetails.dbInstanceIdentifier": {Equals: []string{"orders"}},
			"service.archived": {Equals: []string{"false"}},
		}, []string{}},
		{"role sessions", map[string]gdtypes.Condition{
			"resource.accessKeyDetails.userName": {Equals: []string{"mallory"}},
			"resource.accessKeyDetails.userType": {Equals: []string{"AssumedRole"}},
		}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID), FindingCriteria: criteria(tc.crit)})
			wantOK(t, err)
			if !slices.Equal(out.FindingIds, tc.want) {
				t.Errorf("got %v, want %v", out.FindingIds, tc.want)
			}
		})
	}

	e.emu.Faults().Fail("guardduty:ListFindings", "prod-data", "AccessDeniedException", "denied")
	_, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID),
		FindingCriteria: criteria(map[string]gdtypes.Condition{"resource.s3BucketDetails.name": {Equals: []string{"prod-data"}}})})
	wantCode(t, err, "AccessDeniedException")
	_, err = c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID),
		FindingCriteria: criteria(map[string]gdtypes.Condition{"resource.s3BucketDetails.name": {Equals: []string{"other"}}})})
	wantOK(t, err)

	// ListDetectors names no resource: a fault for any resource applies.
	e.emu.Faults().Fail("guardduty:ListDetectors", "*", "AccessDeniedException", "denied")
	_, err = c.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
	wantCode(t, err, "AccessDeniedException")
}
