package collectors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// The test fleet's GuardDuty findings (us-east-1 of the prod account):
// web-1 queried a C&C domain and has a port probed, and mallory's key
// called from a listed address.
const (
	gdDetector = "3caf4e0aaa46ce4ccbcef949a8785353"
	gdC2       = "a2c6b1f0e6a94b6d9f3c1e2d4b5a6c71"
	gdProbe    = "b7d2e3f4a5b64c7d8e9f0a1b2c3d4e52"
	gdKey      = "c1e2d3c4b5a64f7e8d9c0b1a2f3e4d93"
)

var (
	c2Related = map[string]any{
		"id": gdC2, "type": "Backdoor:EC2/C&CActivity.B!DNS", "severity": "high", "severity_score": 8.0,
		"updated_at": "2025-03-01T11:30:00Z", "title": "Command and Control server domain name queried by EC2 instance " + trailWeb1 + ".",
	}
	probeRelated = map[string]any{
		"id": gdProbe, "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": "low", "severity_score": 2.0,
		"updated_at": "2025-02-28T09:00:00Z", "title": "Unprotected port on EC2 instance " + trailWeb1 + " is being probed.",
	}
	keyRelated = map[string]any{
		"id": gdKey, "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", "severity": "medium", "severity_score": 5.0,
		"updated_at": "2025-03-01T12:05:00Z", "title": "API GetCallerIdentity was invoked from an IP address on a custom threat list.",
	}
)

// gdFinding is a GuardDuty finding (GetFindings shape) about resource,
// updated at minute minute of 2025-03-01 09:00.
func gdFinding(id, typ string, severity float64, minute int, resource, service string) []byte {
	at := time.Date(2025, 3, 1, 9, minute, 0, 0, time.UTC).Format("2006-01-02T15:04:05.000Z")
	if service == "" {
		service = `{"serviceName":"guardduty","archived":false}`
	}
	return fmt.Appendf(nil, `{"schemaVersion":"2.0","accountId":%q,"region":%q,"id":%q,"type":%q,"severity":%v,
		"createdAt":%q,"updatedAt":%q,"title":"finding %s","resource":%s,"service":%s}`,
		prodAccount, region, id, typ, severity, at, at, id, resource, service)
}

func addFinding(t testing.TB, env *testEnv, finding []byte) {
	t.Helper()
	if err := env.emu.AddFinding(prodAccount, region, gdDetector, finding); err != nil {
		t.Fatal(err)
	}
}

func TestGuardDutyRelated(t *testing.T) {
	env := newTestEnv(t)
	web1Resource := `{"resourceType":"Instance","instanceDetails":{"instanceId":"` + trailWeb1 + `"}}`
	addFinding(t, env, gdFinding("d0000000000000000000000000000001", "Trojan:EC2/DNSDataExfiltration", 8, 1, web1Resource,
		`{"serviceName":"guardduty","archived":true}`))
	addFinding(t, env, gdFinding("d0000000000000000000000000000002", "Policy:S3/BucketBlockPublicAccessDisabled", 2, 2,
		`{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"prod-data","type":"Destination"}]}`, ""))
	addFinding(t, env, gdFinding("d0000000000000000000000000000003", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", 8, 3,
		`{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"ASIAEMUWEBROLE000001","principalId":"AROAEMUWEBROLE000001:`+trailWeb1+`","userName":"web-role","userType":"AssumedRole"}}`, ""))
	bucketRelated := map[string]any{"id": "d0000000000000000000000000000002", "type": "Policy:S3/BucketBlockPublicAccessDisabled",
		"severity": "low", "severity_score": 2.0, "updated_at": "2025-03-01T09:02:00Z", "title": "finding d0000000000000000000000000000002"}
	roleRelated := map[string]any{"id": "d0000000000000000000000000000003", "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
		"severity": "high", "severity_score": 8.0, "updated_at": "2025-03-01T09:03:00Z", "title": "finding d0000000000000000000000000000003"}

	about := func(typ, id, findingID string) func() *Request {
		return func() *Request {
			req := aboutResource(env.request(trailWeb1), typ, id)
			req.Finding.ID = findingID
			return req
		}
	}
	cases := []struct {
		name  string
		attrs map[string]cty.Value
		req   func() *Request
		want  []any
	}{
		{"an instance's other current findings", nil, about(schema.ResourceInstance, trailWeb1, gdC2), []any{probeRelated}},
		{"every current finding, oldest first, of another source's finding", nil, about(schema.ResourceInstance, trailWeb1, "f-1"), []any{probeRelated, c2Related}},
		{"a finding named by its ARN is itself", nil,
			about(schema.ResourceInstance, trailWeb1, "arn:aws:guardduty:us-east-1:111122223333:detector/"+gdDetector+"/finding/"+gdProbe), []any{c2Related}},
		{"an access key alone in its finding", nil, about(schema.ResourceAccessKey, trailMalloryKey, gdKey), []any{}},
		{"an IAM user", nil, about(schema.ResourceIAMUser, "mallory", "f-1"), []any{keyRelated}},
		{"an IAM role's sessions", nil, about(schema.ResourceIAMRole, "web-role", "f-1"), []any{roleRelated}},
		{"a bucket", nil, about(schema.ResourceS3Bucket, "prod-data", "f-1"), []any{bucketRelated}},
		{"a cluster without findings", nil, about(schema.ResourceEKSCluster, "prod", "f-1"), []any{}},
		{"with the detector configured", map[string]cty.Value{"detector_id": cty.StringVal(gdDetector)},
			about(schema.ResourceInstance, trailWeb1, gdProbe), []any{c2Related}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env.emu.ResetCalls()
			c := newCollector(t, "aws_guardduty_related", tc.attrs)
			facts, err := c.Collect(context.Background(), tc.req())
			if err != nil {
				t.Fatal(err)
			}
			checkFactsSchema(t, "aws_guardduty_related", facts)
			got := facts["findings"].([]any)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings, want %d: %s", len(got), len(tc.want), trailJSON(got))
			}
			for i := range tc.want {
				if !reflect.DeepEqual(got[i], tc.want[i]) {
					t.Errorf("finding %d:\n got %s\nwant %s", i, trailJSON(got[i]), trailJSON(tc.want[i]))
				}
			}
			if facts["truncated"] != false {
				t.Errorf("truncated = %v", facts["truncated"])
			}
			called := env.actionsCalled()
			checkPermissions(t, c, called)
			if _, configured := tc.attrs["detector_id"]; configured && slices.Contains(called, "guardduty:ListDetectors") {
				t.Error("listed detectors though one is configured")
			}
			if len(tc.want) > 0 && !slices.Contains(called, "guardduty:GetFindings") {
				t.Errorf("calls %v", called)
			}
		})
	}
}

// TestGuardDutyRelatedMany pages through more findings than one call
// lists or describes, throttled, and keeps the most recent when bounded.
func TestGuardDutyRelatedMany(t *testing.T) {
	cases := []struct {
		name      string
		max       int64
		want      int
		oldest    string // the first (oldest) finding kept
		truncated bool
		gets      int
		throttle  int
	}{
		{"all 62, in two batches, throttled", 100, 62, gdProbe, false, 2, 1},
		// The newest 50: the C&C finding and the portscans from 09:11.
		{"the default bound", 0, 50, portscanID(11), true, 1, 0},
		{"the newest 3", 3, 3, portscanID(58), true, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			for i := range 60 {
				addFinding(t, env, gdFinding(portscanID(i), "Recon:EC2/Portscan", 5, i,
					`{"resourceType":"Instance","instanceDetails":{"instanceId":"`+trailWeb1+`"}}`, ""))
			}
			env.emu.Faults().Throttle("guardduty:ListFindings", tc.throttle)
			env.emu.Faults().Throttle("guardduty:GetFindings", tc.throttle)
			attrs := map[string]cty.Value{}
			if tc.max > 0 {
				attrs["max_findings"] = cty.NumberIntVal(tc.max)
			}
			c := newCollector(t, "aws_guardduty_related", attrs)
			req := env.request(trailWeb1)
			req.Finding.ID = "f-1"
			facts, err := c.Collect(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			checkFactsSchema(t, "aws_guardduty_related", facts)
			got := facts["findings"].([]any)
			if len(got) != tc.want || facts["truncated"] != tc.truncated {
				t.Fatalf("got %d findings (truncated %v), want %d (truncated %v)", len(got), facts["truncated"], tc.want, tc.truncated)
			}
			if id := got[0].(map[string]any)["id"]; id != tc.oldest {
				t.Errorf("oldest kept %v, want %s", id, tc.oldest)
			}
			seen := map[any]bool{}
			for i, f := range got {
				m := f.(map[string]any)
				if seen[m["id"]] {
					t.Errorf("%v twice", m["id"])
				}
				seen[m["id"]] = true
				if i > 0 && m["updated_at"].(string) < got[i-1].(map[string]any)["updated_at"].(string) {
					t.Errorf("finding %d out of order", i)
				}
			}
			gets := 0
			for _, c := range env.emu.Calls() {
				if c.Action() == "guardduty:GetFindings" {
					gets++
				}
			}
			if gets != tc.gets+tc.throttle {
				t.Errorf("%d GetFindings calls, want %d and %d throttled", gets, tc.gets, tc.throttle)
			}
			checkPermissions(t, c, env.actionsCalled())
		})
	}
}

// portscanID is the id of the i-th portscan finding, updated at 09:i.
func portscanID(i int) string { return fmt.Sprintf("d%031d", i) }

func TestGuardDutyRelatedErrors(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]cty.Value
		setup func(*awsemu.Emulator)
		req   func(*testEnv) *Request
		ctx   func() (context.Context, context.CancelFunc)
		want  []string
		is    error
	}{
		{
			name: "GuardDuty not enabled in the region",
			req: func(e *testEnv) *Request {
				req := e.request(trailWeb1)
				req.Finding.Region = "us-west-2"
				return req
			},
			want: []string{"no detector", "111122223333", "us-west-2"},
		},
		{
			name:  "a detector not the account's",
			attrs: map[string]cty.Value{"detector_id": cty.StringVal("0000")},
			want:  []string{"detector 0000", "BadRequestException"},
		},
		{
			name: "ListFindings denied",
			setup: func(e *awsemu.Emulator) {
				e.Faults().Fail("guardduty:ListFindings", trailWeb1, "AccessDeniedException", "not authorized")
			},
			want: []string{"listing GuardDuty findings about aws_instance " + trailWeb1, "AccessDeniedException"},
		},
		{
			name:  "GetFindings failing beyond the SDK's attempts",
			setup: func(e *awsemu.Emulator) { e.Faults().ServerError("guardduty:GetFindings", -1) },
			want:  []string{"getting 2 GuardDuty findings", "InternalServerErrorException"},
		},
		{
			name: "ListDetectors failing",
			setup: func(e *awsemu.Emulator) {
				e.Faults().Fail("guardduty:ListDetectors", "*", "AccessDeniedException", "not authorized")
			},
			want: []string{"listing GuardDuty detectors", "AccessDeniedException"},
		},
		{
			name:  "timeout",
			setup: func(e *awsemu.Emulator) { e.Faults().Latency("guardduty:GetFindings", time.Minute) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			want: []string{"getting 2 GuardDuty findings"},
			is:   context.DeadlineExceeded,
		},
		{
			name: "a resource GuardDuty findings do not name",
			req: func(e *testEnv) *Request {
				return aboutResource(e.request(trailWeb1), schema.ResourceEBSVolume, "vol-0a1b2c3d4e5f60301")
			},
			want: []string{"cannot be searched", "aws_ebs_volume"},
		},
		{
			name: "a resource without id",
			req:  func(e *testEnv) *Request { return aboutResource(e.request(trailWeb1), schema.ResourceS3Bucket, "") },
			want: []string{"no id"},
		},
		{
			name: "no AWS access",
			req: func(e *testEnv) *Request {
				req := e.request(trailWeb1)
				req.AWS = nil
				return req
			},
			want: []string{"needs AWS access"},
		},
		{
			name: "no finding",
			req: func(e *testEnv) *Request {
				req := e.request(trailWeb1)
				req.Finding = nil
				return req
			},
			want: []string{"account and region"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			if tc.setup != nil {
				tc.setup(env.emu)
			}
			req := env.request(trailWeb1)
			if tc.req != nil {
				req = tc.req(env)
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			facts, err := newCollector(t, "aws_guardduty_related", tc.attrs).Collect(ctx, req)
			if err == nil {
				t.Fatalf("no error; facts %s", trailJSON(facts))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

func TestGuardDutyRelatedConfig(t *testing.T) {
	c := newCollector(t, "aws_guardduty_related", nil).(*guarddutyRelatedCollector)
	if c.detectorID != "" || c.maxFindings != 50 {
		t.Errorf("defaults: %+v", c)
	}
	if p := c.Permissions(); !slices.Equal(p, []string{"guardduty:GetFindings", "guardduty:ListDetectors", "guardduty:ListFindings"}) {
		t.Errorf("permissions %v", p)
	}
	c = newCollector(t, "aws_guardduty_related", map[string]cty.Value{"detector_id": cty.StringVal(gdDetector), "max_findings": cty.NumberIntVal(1000)}).(*guarddutyRelatedCollector)
	if c.detectorID != gdDetector || c.maxFindings != 1000 {
		t.Errorf("configured: %+v", c)
	}
	bad := []struct {
		attrs map[string]cty.Value
		attr  string
	}{
		{map[string]cty.Value{"detector_id": cty.StringVal("")}, "detector_id"},
		{map[string]cty.Value{"detector_id": cty.StringVal("3CAF4E0A")}, "detector_id"},
		{map[string]cty.Value{"detector_id": cty.StringVal("arn:aws:guardduty:us-east-1:1:detector/x")}, "detector_id"},
		{map[string]cty.Value{"max_findings": cty.NumberIntVal(0)}, "max_findings"},
		{map[string]cty.Value{"max_findings": cty.NumberIntVal(1001)}, "max_findings"},
		{map[string]cty.Value{"max_findings": cty.NumberFloatVal(0.5)}, "max_findings"},
	}
	for _, tc := range bad {
		_, err := buildCollector("aws_guardduty_related", tc.attrs)
		var ae *AttributeError
		if !errors.As(err, &ae) || ae.Attribute != tc.attr {
			t.Errorf("%v: error %v, want one about %s", tc.attrs, err, tc.attr)
		}
	}
}
