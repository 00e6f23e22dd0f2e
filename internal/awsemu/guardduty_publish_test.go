package awsemu

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
)

// republished is a seeded finding as GuardDuty publishes it again: the
// same id, a higher service.count and a newer updatedAt.
func republished(t *testing.T, e *env, id string, updated time.Time, count int) json.RawMessage {
	t.Helper()
	for _, f := range e.emu.Snapshot().Accounts[prodAccount].Regions["us-east-1"].Detectors[detectorID].Findings {
		if f.ID != id {
			continue
		}
		var doc map[string]any
		wantOK(t, json.Unmarshal(f.Raw, &doc))
		doc["updatedAt"] = updated.UTC().Format("2006-01-02T15:04:05.000Z")
		doc["service"].(map[string]any)["count"] = count
		b, err := json.Marshal(doc)
		wantOK(t, err)
		return b
	}
	t.Fatalf("no finding %s", id)
	return nil
}

// listSince pages through the findings updated at or after cursor, oldest
// first, as a poller keeping an updatedAt cursor does.
func listSince(t *testing.T, c *guardduty.Client, cursor time.Time, page int32) []string {
	t.Helper()
	var ids []string
	p := guardduty.NewListFindingsPaginator(c, &guardduty.ListFindingsInput{
		DetectorId:      aws.String(detectorID),
		FindingCriteria: criteria(map[string]gdtypes.Condition{"updatedAt": {GreaterThanOrEqual: aws.Int64(cursor.UnixMilli())}}),
		SortCriteria:    &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByAsc},
		MaxResults:      aws.Int32(page),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		wantOK(t, err)
		ids = append(ids, out.FindingIds...)
	}
	return ids
}

func TestGuardDutyPutFinding(t *testing.T) {
	e := newEnv(t)
	c := guardduty.NewFromConfig(e.prod())
	if got := listSince(t, c, time.Time{}, 1); !slices.Equal(got, []string{findingProbe, findingC2, findingKey}) {
		t.Fatalf("first poll %v", got)
	}
	cursor := time.Date(2025, 3, 1, 12, 5, 0, 0, time.UTC) // findingKey's updatedAt
	before := e.emu.Snapshot()

	updated := time.Date(2025, 3, 1, 12, 20, 0, 0, time.UTC)
	wantOK(t, e.emu.PutFinding(prodAccount, "us-east-1", detectorID, republished(t, e, findingC2, updated, 4)))
	// The cursor is inclusive: the finding at the cursor comes again, and
	// the poller tells it apart by its (id, updatedAt).
	if got := listSince(t, c, cursor, 1); !slices.Equal(got, []string{findingKey, findingC2}) {
		t.Errorf("poll after re-publication %v", got)
	}
	out, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detectorID), FindingIds: []string{findingC2}})
	wantOK(t, err)
	if f := out.Findings[0]; aws.ToInt32(f.Service.Count) != 4 || aws.ToString(f.UpdatedAt) != "2025-03-01T12:20:00.000Z" {
		t.Errorf("GetFindings after re-publication: count %d, updated %s", aws.ToInt32(f.Service.Count), aws.ToString(f.UpdatedAt))
	}
	all, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID)})
	wantOK(t, err)
	if len(all.FindingIds) != 3 {
		t.Errorf("re-publication added a finding: %v", all.FindingIds)
	}
	// A snapshot taken before keeps the old version.
	for _, f := range before.Accounts[prodAccount].Regions["us-east-1"].Detectors[detectorID].Findings {
		if f.ID == findingC2 && !strings.Contains(string(f.Raw), `"updatedAt":"2025-03-01T11:30:00.000Z"`) {
			t.Errorf("snapshot changed: %s", f.Raw)
		}
	}

	// A new id is a new finding.
	fresh := `{"id":"d0000000000000000000000000000001","type":"UnauthorizedAccess:IAMUser/MaliciousIPCaller","severity":5,
	  "createdAt":"2025-03-01T12:30:00.000Z","updatedAt":"2025-03-01T12:30:00.000Z","accountId":"111122223333","region":"us-east-1",
	  "resource":{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"AKIAEMUMALLORY000001","userName":"mallory"}},
	  "service":{"serviceName":"guardduty","detectorId":"` + detectorID + `","archived":false,"count":1}}`
	wantOK(t, e.emu.PutFinding(prodAccount, "us-east-1", detectorID, json.RawMessage(fresh)))
	order := []string{findingKey, findingC2, "d0000000000000000000000000000001"}
	if got := listSince(t, c, cursor, 2); !slices.Equal(got, order) {
		t.Fatalf("poll with a new finding %v", got)
	}

	// The deprecated gte (an int32: not wide enough for times) still
	// filters numbers.
	sev, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID),
		FindingCriteria: criteria(map[string]gdtypes.Condition{"severity": {Gte: aws.Int32(5)}}),
		SortCriteria:    &gdtypes.SortCriteria{AttributeName: aws.String("severity"), OrderBy: gdtypes.OrderByDesc}})
	wantOK(t, err)
	if want := []string{findingC2, "d0000000000000000000000000000001", findingKey}; !slices.Equal(sev.FindingIds, want) {
		t.Errorf("severity gte 5: %v, want %v", sev.FindingIds, want)
	}

	// A finding re-published between two pages moves to its new place
	// without the next page skipping the findings it jumped over.
	in := &guardduty.ListFindingsInput{
		DetectorId:      aws.String(detectorID),
		FindingCriteria: criteria(map[string]gdtypes.Condition{"updatedAt": {GreaterThanOrEqual: aws.Int64(cursor.UnixMilli())}}),
		SortCriteria:    &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByAsc},
		MaxResults:      aws.Int32(1),
	}
	page, err := c.ListFindings(ctx, in)
	wantOK(t, err)
	if !slices.Equal(page.FindingIds, []string{findingKey}) || page.NextToken == nil {
		t.Fatalf("page 1 %v", page.FindingIds)
	}
	wantOK(t, e.emu.PutFinding(prodAccount, "us-east-1", detectorID, republished(t, e, findingKey, updated.Add(30*time.Minute), 5)))
	var rest []string
	for page.NextToken != nil {
		in.NextToken = page.NextToken
		page, err = c.ListFindings(ctx, in)
		wantOK(t, err)
		rest = append(rest, page.FindingIds...)
	}
	if want := []string{findingC2, "d0000000000000000000000000000001", findingKey}; !slices.Equal(rest, want) {
		t.Errorf("pages after a re-publication: %v, want %v", rest, want)
	}

	// Descending order pages the same way.
	in.NextToken, in.SortCriteria.OrderBy = nil, gdtypes.OrderByDesc
	var desc []string
	for {
		page, err = c.ListFindings(ctx, in)
		wantOK(t, err)
		desc = append(desc, page.FindingIds...)
		if page.NextToken == nil {
			break
		}
		in.NextToken = page.NextToken
	}
	if want := []string{findingKey, "d0000000000000000000000000000001", findingC2}; !slices.Equal(desc, want) {
		t.Errorf("descending %v, want %v", desc, want)
	}

	// A token of one sort is not one of another.
	unsorted, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID), MaxResults: aws.Int32(1)})
	wantOK(t, err)
	in.NextToken = unsorted.NextToken
	_, err = c.ListFindings(ctx, in)
	wantCode(t, err, "BadRequestException")

	bad := []struct {
		name, account, detector, finding, want string
	}{
		{"not JSON", prodAccount, detectorID, `{`, "a finding must be a JSON object"},
		{"other account", prodAccount, detectorID, strings.Replace(fresh, `"accountId":"111122223333"`, `"accountId":"444455556666"`, 1), `"accountId" must be the account's id`},
		{"no detector", prodAccount, "0000", fresh, "no detector 0000"},
		{"no account", "999999999999", detectorID, strings.Replace(fresh, `"accountId":"111122223333",`, "", 1), "no account 999999999999"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := e.emu.PutFinding(tc.account, "us-east-1", tc.detector, json.RawMessage(tc.finding))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// Publishing while clients list, get and snapshot is race-free (-race).
func TestGuardDutyPutFindingConcurrent(t *testing.T) {
	e := newEnv(t)
	c := guardduty.NewFromConfig(e.prod())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			f := republished(t, e, findingC2, time.Date(2025, 3, 1, 13, i, 0, 0, time.UTC), 4+i)
			if err := e.emu.PutFinding(prodAccount, "us-east-1", detectorID, f); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			if _, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detectorID), FindingIds: []string{findingC2}}); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			if _, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: aws.String(detectorID),
				SortCriteria: &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByDesc}}); err != nil {
				t.Error(err)
			}
			_ = e.emu.Snapshot()
		}
	}()
	wg.Wait()
	out, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detectorID), FindingIds: []string{findingC2}})
	wantOK(t, err)
	if got := aws.ToInt32(out.Findings[0].Service.Count); got != 33 {
		t.Errorf("count after 30 re-publications %d, want 33 (%s)", got, fmt.Sprint(aws.ToString(out.Findings[0].UpdatedAt)))
	}
}
