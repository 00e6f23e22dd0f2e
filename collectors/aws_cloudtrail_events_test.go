package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/awsemu"
	"github.com/cordonhq/cordon/schema"
)

// The test fleet's CloudTrail story (us-east-1 of the prod account):
// web-1's instance role describes instances and changes web-1, mallory's
// key checks who it is and makes a key for alice, and alice stopped
// batch-1 more than a week before.
const (
	trailWeb1       = "i-0a1b2c3d4e5f60101"
	trailBatch1     = "i-0a1b2c3d4e5f60103"
	trailMalloryKey = "AKIAEMUMALLORY000001"
)

var (
	describeInstancesEvent = map[string]any{
		"time": "2025-03-01T10:01:00Z", "event_name": "DescribeInstances", "event_source": "ec2.amazonaws.com",
		"user": "web-role/" + trailWeb1, "access_key_id": "ASIAEMUWEBROLE000001", "source_ip": "203.0.113.77",
		"user_agent": "aws-cli/2.15.0", "error_code": "", "resources": []any{}, "read_only": true,
	}
	modifyInstanceEvent = map[string]any{
		"time": "2025-03-01T10:20:00Z", "event_name": "ModifyInstanceAttribute", "event_source": "ec2.amazonaws.com",
		"user": "web-role/" + trailWeb1, "access_key_id": "ASIAEMUWEBROLE000001", "source_ip": "203.0.113.77",
		"user_agent": "aws-cli/2.15.0", "error_code": "", "resources": []any{trailWeb1}, "read_only": false,
	}
	getCallerIdentityEvent = map[string]any{
		"time": "2025-03-01T12:00:00Z", "event_name": "GetCallerIdentity", "event_source": "sts.amazonaws.com",
		"user": "mallory", "access_key_id": trailMalloryKey, "source_ip": "203.0.113.77",
		"user_agent": "aws-cli/2.15.0", "error_code": "", "resources": []any{}, "read_only": true,
	}
	createAccessKeyEvent = map[string]any{
		"time": "2025-03-01T12:03:00Z", "event_name": "CreateAccessKey", "event_source": "iam.amazonaws.com",
		"user": "mallory", "access_key_id": trailMalloryKey, "source_ip": "203.0.113.77",
		"user_agent": "aws-cli/2.15.0", "error_code": "", "resources": []any{"alice"}, "read_only": false,
	}
	stopInstancesEvent = map[string]any{
		"time": "2025-02-20T16:00:00Z", "event_name": "StopInstances", "event_source": "ec2.amazonaws.com",
		"user": "alice", "access_key_id": "AKIAEMUALICE00000001", "source_ip": "203.0.113.77",
		"user_agent": "aws-cli/2.15.0", "error_code": "", "resources": []any{trailBatch1}, "read_only": false,
	}
)

// newTrailCollector builds an aws_cloudtrail_events collector with its
// own pacer, not pacing unless pace is set.
func newTrailCollector(t testing.TB, attrs map[string]cty.Value, pace time.Duration) *cloudtrailEventsCollector {
	t.Helper()
	c := newCollector(t, "aws_cloudtrail_events", attrs).(*cloudtrailEventsCollector)
	c.pace, c.pacer = pace, newCallPacer()
	return c
}

// aboutResource points a request at another resource of the fleet.
func aboutResource(req *Request, typ, id string) *Request {
	req.Resource = schema.Resource{Type: typ, ID: id, Tags: map[string]string{}, Details: map[string]any{}}
	return req
}

func TestCloudTrailEvents(t *testing.T) {
	env := newTestEnv(t)
	cases := []struct {
		name      string
		attrs     map[string]cty.Value
		req       func() *Request
		want      []any
		truncated bool
	}{
		{
			name: "instance: events on it and by its role's session, each once",
			req:  func() *Request { return env.request(trailWeb1) },
			want: []any{describeInstancesEvent, modifyInstanceEvent},
		},
		{
			name: "access key",
			req: func() *Request {
				return aboutResource(env.request(trailWeb1), schema.ResourceAccessKey, trailMalloryKey)
			},
			want: []any{getCallerIdentityEvent, createAccessKeyEvent},
		},
		{
			name: "user: what it did",
			req:  func() *Request { return aboutResource(env.request(trailWeb1), schema.ResourceIAMUser, "mallory") },
			want: []any{getCallerIdentityEvent, createAccessKeyEvent},
		},
		{
			name: "user: what was done to it, within the lookback",
			req:  func() *Request { return aboutResource(env.request(trailWeb1), schema.ResourceIAMUser, "alice") },
			want: []any{createAccessKeyEvent},
		},
		{
			name:  "a week's lookback reaches alice's own call",
			attrs: map[string]cty.Value{"lookback": cty.StringVal("240h")},
			req:   func() *Request { return aboutResource(env.request(trailWeb1), schema.ResourceIAMUser, "alice") },
			want:  []any{stopInstancesEvent, createAccessKeyEvent},
		},
		{
			name: "the window ends an hour after the finding's last update",
			req: func() *Request {
				req := env.request(trailBatch1)
				req.Finding.UpdatedAt = "2025-02-20T15:30:00Z"
				return req
			},
			want: []any{stopInstancesEvent},
		},
		{
			name: "and starts lookback before that",
			req: func() *Request {
				req := aboutResource(env.request(trailWeb1), schema.ResourceAccessKey, trailMalloryKey)
				req.Finding.UpdatedAt = "2025-03-01T11:01:00Z" // the window ends at 12:01
				return req
			},
			want: []any{getCallerIdentityEvent},
		},
		{
			name: "a finding updated in the future ends the window now",
			req: func() *Request {
				req := aboutResource(env.request(trailWeb1), schema.ResourceAccessKey, trailMalloryKey)
				req.Finding.UpdatedAt = "2025-03-02T00:00:00Z"
				return req
			},
			want: []any{getCallerIdentityEvent, createAccessKeyEvent},
		},
		{
			name: "without a usable finding time the window ends now",
			req: func() *Request {
				req := env.request(trailBatch1)
				req.Finding.UpdatedAt = "yesterday"
				return req
			},
			want: []any{},
		},
		{
			name:  "max_events keeps the newest",
			attrs: map[string]cty.Value{"max_events": cty.NumberIntVal(1)},
			req: func() *Request {
				return aboutResource(env.request(trailWeb1), schema.ResourceAccessKey, trailMalloryKey)
			},
			want:      []any{createAccessKeyEvent},
			truncated: true,
		},
		{
			name:  "exactly max_events is not truncated",
			attrs: map[string]cty.Value{"max_events": cty.NumberIntVal(2)},
			req:   func() *Request { return env.request(trailWeb1) },
			want:  []any{describeInstancesEvent, modifyInstanceEvent},
		},
		{
			name: "a role by name",
			req: func() *Request {
				return aboutResource(env.request(trailWeb1), schema.ResourceIAMRole, "quarantine-role")
			},
			want: []any{},
		},
		{
			name: "a resource nothing names",
			req: func() *Request {
				return aboutResource(env.request(trailWeb1), schema.ResourceS3Bucket, "no-such-bucket")
			},
			want: []any{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTrailCollector(t, tc.attrs, 0)
			facts, err := c.Collect(context.Background(), tc.req())
			if err != nil {
				t.Fatal(err)
			}
			checkFactsSchema(t, "aws_cloudtrail_events", facts)
			got := facts["events"].([]any)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d: %s", len(got), len(tc.want), trailJSON(got))
			}
			for i := range tc.want {
				if !reflect.DeepEqual(got[i], tc.want[i]) {
					t.Errorf("event %d:\n got %s\nwant %s", i, trailJSON(got[i]), trailJSON(tc.want[i]))
				}
			}
			if facts["truncated"] != tc.truncated {
				t.Errorf("truncated = %v, want %v", facts["truncated"], tc.truncated)
			}
		})
	}
	checkPermissions(t, newTrailCollector(t, nil, 0), env.actionsCalled())
}

// TestCloudTrailEventsLookups checks the lookups made per resource type.
func TestCloudTrailEventsLookups(t *testing.T) {
	cases := []struct {
		res  schema.Resource
		want []string
	}{
		{schema.Resource{Type: schema.ResourceInstance, ID: trailWeb1}, []string{"ResourceName=" + trailWeb1, "Username=" + trailWeb1}},
		{schema.Resource{Type: schema.ResourceAccessKey, ID: trailMalloryKey}, []string{"AccessKeyId=" + trailMalloryKey}},
		{schema.Resource{Type: schema.ResourceIAMUser, ID: "alice"}, []string{"Username=alice", "ResourceName=alice"}},
		{schema.Resource{Type: schema.ResourceIAMRole, ID: "web-role"}, []string{"ResourceName=web-role"}},
		{schema.Resource{Type: schema.ResourceIAMRole, ID: "web-role", ARN: "arn:aws:iam::111122223333:role/web-role"},
			[]string{"ResourceName=web-role", "ResourceName=arn:aws:iam::111122223333:role/web-role"}},
		{schema.Resource{Type: schema.ResourceS3Bucket, ID: "logs"}, []string{"ResourceName=logs"}},
		{schema.Resource{Type: schema.ResourceLambda, ID: "fn"}, []string{"ResourceName=fn"}},
	}
	for _, tc := range cases {
		t.Run(tc.res.Type, func(t *testing.T) {
			attrs, err := trailLookupAttributes(tc.res)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range attrs {
				got = append(got, string(a.AttributeKey)+"="+aws.ToString(a.AttributeValue))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := trailLookupAttributes(schema.Resource{Type: schema.ResourceInstance}); err == nil || !strings.Contains(err.Error(), "no id") {
		t.Errorf("a resource without id: %v", err)
	}
}

// manyTrailEvents seeds n events by web-1's role session on web-1, a
// minute apart from 08:00 (before the first event of the fleet).
func manyTrailEvents(n int) func(*awsemu.Seed) {
	return func(s *awsemu.Seed) {
		for i := range s.Accounts {
			if s.Accounts[i].ID != prodAccount {
				continue
			}
			r := s.Accounts[i].Regions[region]
			for j := range n {
				rec := fmt.Sprintf(`{"eventVersion":"1.08","eventID":"bulk-%04d","eventTime":%q,"eventSource":"ec2.amazonaws.com",
					"eventName":"DescribeInstanceStatus","readOnly":true,"sourceIPAddress":"10.0.1.10","userAgent":"aws-sdk-go/1.0",
					"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/web-role/%s","accessKeyId":"ASIAEMUWEBROLE000001"},
					"requestParameters":{"instanceId":%q}}`,
					j, time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(j)*time.Minute).Format(time.RFC3339), trailWeb1, trailWeb1)
				r.CloudTrailEvents = append(r.CloudTrailEvents, awsemu.SeedTrailEvent{Record: json.RawMessage(rec)})
			}
			s.Accounts[i].Regions[region] = r
		}
	}
}

// TestCloudTrailEventsPaginationThrottled pages through 120 events named by
// both of an instance's lookups (three pages each) while CloudTrail
// throttles: the SDK's retries get every event, once.
func TestCloudTrailEventsPaginationThrottled(t *testing.T) {
	cases := []struct {
		name      string
		max       int64
		throttle  int
		want      int
		first     string
		truncated bool
	}{
		{"all, throttled", 1000, 2, 122, "bulk-0000", false},
		{"the newest 100", 100, 0, 100, "bulk-0022", true},
		{"one page", 50, 0, 50, "bulk-0072", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnvSeed(t, manyTrailEvents(120))
			env.emu.Faults().Throttle("cloudtrail:LookupEvents", tc.throttle)
			c := newTrailCollector(t, map[string]cty.Value{"max_events": cty.NumberIntVal(tc.max)}, 0)
			facts, err := c.Collect(context.Background(), env.request(trailWeb1))
			if err != nil {
				t.Fatal(err)
			}
			checkFactsSchema(t, "aws_cloudtrail_events", facts)
			events := facts["events"].([]any)
			if len(events) != tc.want || facts["truncated"] != tc.truncated {
				t.Fatalf("got %d events (truncated %v), want %d (truncated %v)", len(events), facts["truncated"], tc.want, tc.truncated)
			}
			var prev string
			for i, e := range events {
				ts := e.(map[string]any)["time"].(string)
				if ts < prev {
					t.Fatalf("event %d at %s after one at %s", i, ts, prev)
				}
				if ts == prev {
					t.Fatalf("event %d at %s twice", i, ts)
				}
				prev = ts
			}
			first := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
			var n int
			fmt.Sscanf(tc.first, "bulk-%d", &n)
			if got := events[0].(map[string]any)["time"]; got != first.Add(time.Duration(n)*time.Minute).Format(time.RFC3339) {
				t.Errorf("first event at %v, want %s's", got, tc.first)
			}
			lookups := 0
			for _, c := range env.emu.Calls() {
				if c.Action() == "cloudtrail:LookupEvents" {
					lookups++
				}
			}
			// Every event is named by both lookups: paging through them
			// all takes 3 pages each, plus the throttled attempts.
			if tc.want == 122 && lookups != 3+3+tc.throttle {
				t.Errorf("%d LookupEvents calls, want %d", lookups, 6+tc.throttle)
			}
			checkPermissions(t, c, env.actionsCalled())
		})
	}
}

func TestCloudTrailEventsErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*awsemu.Emulator)
		req   func(*testEnv) *Request
		ctx   func() (context.Context, context.CancelFunc)
		want  []string
		is    error
	}{
		{
			name: "invalid lookup attributes",
			setup: func(e *awsemu.Emulator) {
				e.Faults().Fail("cloudtrail:LookupEvents", trailWeb1, "InvalidLookupAttributesException", "The lookup attribute is not valid.")
			},
			want: []string{"ResourceName " + trailWeb1, "InvalidLookupAttributesException"},
		},
		{
			name: "invalid time range",
			setup: func(e *awsemu.Emulator) {
				e.Faults().Fail("cloudtrail:LookupEvents", "*", "InvalidTimeRangeException", "Start time must be earlier than end time.")
			},
			want: []string{"looking up CloudTrail events", "InvalidTimeRangeException"},
		},
		{
			name:  "failing beyond the SDK's attempts",
			setup: func(e *awsemu.Emulator) { e.Faults().ServerError("cloudtrail:LookupEvents", -1) },
			want:  []string{"InternalServerError"},
		},
		{
			name: "access denied",
			setup: func(e *awsemu.Emulator) {
				e.Faults().Fail("cloudtrail:LookupEvents", "*", "AccessDeniedException", "not authorized")
			},
			want: []string{"AccessDeniedException"},
		},
		{
			name:  "timeout",
			setup: func(e *awsemu.Emulator) { e.Faults().Latency("cloudtrail:LookupEvents", time.Minute) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: []string{"looking up CloudTrail events"},
			is:   context.DeadlineExceeded,
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
		{
			name: "a resource without id",
			req:  func(e *testEnv) *Request { return aboutResource(e.request(trailWeb1), schema.ResourceInstance, "") },
			want: []string{"no id"},
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
			facts, err := newTrailCollector(t, nil, 0).Collect(ctx, req)
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

// TestCloudTrailEventsPaced runs with CloudTrail's real pace: pages wait
// their turn, and a turn that would come after the timeout fails at once.
func TestCloudTrailEventsPaced(t *testing.T) {
	env := newTestEnv(t)
	c := newTrailCollector(t, nil, trailPace)
	facts, err := c.Collect(context.Background(), env.request(trailWeb1))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(facts["events"].([]any)); n != 2 {
		t.Errorf("%d events, want 2", n)
	}

	slow := newTrailCollector(t, nil, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = slow.Collect(ctx, env.request(trailWeb1))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "Username "+trailWeb1) {
		t.Errorf("second lookup an hour after the first, within a minute: %v", err)
	}
}

func TestCallPacer(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := newCallPacer()
	const step = 500 * time.Millisecond
	steps := []struct {
		key      string
		now      time.Time
		deadline time.Time
		want     time.Time
		ok       bool
	}{
		{"a/us-east-1", t0, time.Time{}, t0, true},
		{"a/us-east-1", t0, time.Time{}, t0.Add(step), true},
		{"a/us-east-1", t0.Add(100 * time.Millisecond), time.Time{}, t0.Add(2 * step), true},
		// Too late for the deadline: not booked.
		{"a/us-east-1", t0, t0.Add(step), t0.Add(3 * step), false},
		{"a/us-east-1", t0, t0.Add(3 * step), t0.Add(3 * step), true},
		{"b/us-east-1", t0, time.Time{}, t0, true},
		{"a/us-west-2", t0, time.Time{}, t0, true},
		{"a/us-east-1", t0.Add(10 * time.Second), time.Time{}, t0.Add(10 * time.Second), true},
		{"a/us-east-1", t0.Add(10 * time.Second), time.Time{}, t0.Add(10*time.Second + step), true},
	}
	for i, s := range steps {
		got, ok := p.reserve(s.key, s.now, s.deadline, step)
		if !got.Equal(s.want) || ok != s.ok {
			t.Errorf("step %d: reserve(%s, %s) = %s, %v; want %s, %v", i, s.key, s.now.Format(time.StampMilli),
				got.Format(time.StampMilli), ok, s.want.Format(time.StampMilli), s.ok)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx, "c", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("wait on a cancelled context: %v", err)
	}
	if err := p.wait(ctx, "c", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("paced wait on a cancelled context: %v", err)
	}
}

func TestCloudTrailEventsConfig(t *testing.T) {
	good := []struct {
		attrs    map[string]cty.Value
		lookback time.Duration
		max      int
	}{
		{nil, 24 * time.Hour, 1000},
		{map[string]cty.Value{"lookback": cty.StringVal("90m"), "max_events": cty.NumberIntVal(10)}, 90 * time.Minute, 10},
		{map[string]cty.Value{"lookback": cty.StringVal("2160h"), "max_events": cty.NumberIntVal(10000)}, 2160 * time.Hour, 10000},
	}
	for _, tc := range good {
		c := newCollector(t, "aws_cloudtrail_events", tc.attrs).(*cloudtrailEventsCollector)
		if c.lookback != tc.lookback || c.maxEvents != tc.max {
			t.Errorf("%v: lookback %s, max %d", tc.attrs, c.lookback, c.maxEvents)
		}
	}
	bad := []struct {
		attrs map[string]cty.Value
		attr  string
	}{
		{map[string]cty.Value{"lookback": cty.StringVal("1d")}, "lookback"},
		{map[string]cty.Value{"lookback": cty.StringVal("-1h")}, "lookback"},
		{map[string]cty.Value{"lookback": cty.StringVal("0s")}, "lookback"},
		{map[string]cty.Value{"lookback": cty.StringVal("2161h")}, "lookback"},
		{map[string]cty.Value{"max_events": cty.NumberIntVal(0)}, "max_events"},
		{map[string]cty.Value{"max_events": cty.NumberFloatVal(2.5)}, "max_events"},
		{map[string]cty.Value{"max_events": cty.NumberIntVal(10001)}, "max_events"},
	}
	for _, tc := range bad {
		_, err := buildCollector("aws_cloudtrail_events", tc.attrs)
		var ae *AttributeError
		if !errors.As(err, &ae) || ae.Attribute != tc.attr {
			t.Errorf("%v: error %v, want one about %s", tc.attrs, err, tc.attr)
		}
	}
}

// TestParseTrailEvent reads records of every shape, whole or not.
func TestParseTrailEvent(t *testing.T) {
	at := time.Date(2025, 3, 14, 11, 33, 58, 0, time.UTC)
	long := strings.Repeat("é", trailMaxString)
	cases := []struct {
		name string
		ev   cttypes.Event
		want map[string]any
	}{
		{
			name: "an IAM user's denied call",
			ev: cttypes.Event{EventId: aws.String("e1"), EventTime: aws.Time(at), CloudTrailEvent: aws.String(`{"eventID":"e1","eventTime":"2025-03-14T11:33:58Z",
				"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","readOnly":false,"errorCode":"AccessDenied",
				"sourceIPAddress":"198.51.100.61","userAgent":"aws-cli/2.15.30",
				"userIdentity":{"type":"IAMUser","userName":"ci-deploy","accessKeyId":"AKIAXQ4G7NF2CIDEPLOY"},
				"resources":[{"ARN":"arn:aws:cloudtrail:us-west-2:123456789012:trail/org-trail","type":"AWS::CloudTrail::Trail"}]}`),
				Resources: []cttypes.Resource{{ResourceName: aws.String("org-trail")}, {ResourceName: aws.String("other")}}},
			want: map[string]any{"time": "2025-03-14T11:33:58Z", "event_name": "StopLogging", "event_source": "cloudtrail.amazonaws.com",
				"user": "ci-deploy", "access_key_id": "AKIAXQ4G7NF2CIDEPLOY", "source_ip": "198.51.100.61", "user_agent": "aws-cli/2.15.30",
				"error_code": "AccessDenied", "read_only": false,
				"resources": []any{"arn:aws:cloudtrail:us-west-2:123456789012:trail/org-trail", "other"}},
		},
		{
			name: "no record: LookupEvents' fields",
			ev: cttypes.Event{EventId: aws.String("e2"), EventTime: aws.Time(at), EventName: aws.String("CreateUser"),
				EventSource: aws.String("iam.amazonaws.com"), Username: aws.String("ci-deploy"), AccessKeyId: aws.String("AKIAX"),
				ReadOnly: aws.String("false"), Resources: []cttypes.Resource{{ResourceName: aws.String("svc-backup")}}},
			want: map[string]any{"time": "2025-03-14T11:33:58Z", "event_name": "CreateUser", "event_source": "iam.amazonaws.com",
				"user": "ci-deploy", "access_key_id": "AKIAX", "source_ip": "", "user_agent": "", "error_code": "",
				"read_only": false, "resources": []any{"svc-backup"}},
		},
		{
			name: "a record that is not JSON",
			ev: cttypes.Event{EventId: aws.String("e3"), EventTime: aws.Time(at), EventName: aws.String("ListRoles"),
				CloudTrailEvent: aws.String(`{"eventName": "Trunc`)},
			want: map[string]any{"time": "2025-03-14T11:33:58Z", "event_name": "ListRoles", "event_source": "", "user": "",
				"access_key_id": "", "source_ip": "", "user_agent": "", "error_code": "", "resources": []any{}},
		},
		{
			name: "fields of unexpected types",
			ev: cttypes.Event{EventId: aws.String("e4"), CloudTrailEvent: aws.String(`{"eventTime":"2025-03-14T11:33:58Z","eventName":"GetObject",
				"readOnly":"true","sourceIPAddress":7,"userIdentity":"root","resources":{"ARN":"x"},"userAgent":"s3.amazonaws.com"}`)},
			want: map[string]any{"time": "2025-03-14T11:33:58Z", "event_name": "GetObject", "event_source": "", "user": "",
				"access_key_id": "", "source_ip": "", "user_agent": "s3.amazonaws.com", "error_code": "", "read_only": true, "resources": []any{}},
		},
		{
			name: "a role session without its ARN, and no time at all",
			ev: cttypes.Event{Username: aws.String("i-0abc"), CloudTrailEvent: aws.String(`{"eventName":"PutObject",
				"userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"web-role"}}}}`)},
			want: map[string]any{"event_name": "PutObject", "event_source": "", "user": "web-role/i-0abc", "access_key_id": "",
				"source_ip": "", "user_agent": "", "error_code": "", "resources": []any{}},
		},
		{
			name: "the root user and a long user agent",
			ev: cttypes.Event{EventTime: aws.Time(at), CloudTrailEvent: aws.String(`{"eventName":"ConsoleLogin","userAgent":"` + long + `",
				"userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root"}}`)},
			want: map[string]any{"time": "2025-03-14T11:33:58Z", "event_name": "ConsoleLogin", "event_source": "", "user": "root",
				"access_key_id": "", "source_ip": "", "user_agent": long[:trailMaxString] + "…", "error_code": "", "resources": []any{}},
		},
		{
			name: "a service",
			ev: cttypes.Event{EventTime: aws.Time(at), Username: aws.String("x"), CloudTrailEvent: aws.String(`{"eventName":"AssumeRole",
				"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}}`)},
			want: map[string]any{"time": "2025-03-14T11:33:58Z", "event_name": "AssumeRole", "event_source": "", "user": "ec2.amazonaws.com",
				"access_key_id": "", "source_ip": "", "user_agent": "", "error_code": "", "resources": []any{}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := parseTrailEvent(&tc.ev)
			got := e.facts()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %s\nwant %s", trailJSON(got), trailJSON(tc.want))
			}
			checkFactsSchema(t, "aws_cloudtrail_events", map[string]any{"events": []any{got}})
		})
	}
}

// FuzzParseTrailEvent feeds arbitrary records: parsing never panics, and
// every string it keeps is valid UTF-8 and bounded.
func FuzzParseTrailEvent(f *testing.F) {
	f.Add(`{"eventName":"StopLogging","userIdentity":{"type":"IAMUser","userName":"u"},"resources":[{"ARN":"arn:aws:x:::a/b"}]}`, "b")
	f.Add(`{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s"},"readOnly":"true"}`, "")
	f.Add(`{"eventTime":"2025-03-14T11:33:58Z","userAgent":"\u0000\xff"}`, "\xff")
	f.Add(`[]`, "x")
	f.Fuzz(func(t *testing.T, record, name string) {
		ev := cttypes.Event{CloudTrailEvent: aws.String(record), Resources: []cttypes.Resource{{ResourceName: aws.String(name)}}}
		e := parseTrailEvent(&ev)
		for k, v := range e.facts() {
			s, ok := v.(string)
			if !ok {
				continue
			}
			if len(s) > trailMaxString+len("…") {
				t.Errorf("%s is %d bytes long", k, len(s))
			}
			if k != "time" && !utf8.ValidString(s) && utf8.ValidString(record) {
				t.Errorf("%s is not valid UTF-8: %q", k, s)
			}
		}
		if len(e.resources) > trailMaxResources {
			t.Errorf("%d resources", len(e.resources))
		}
	})
}

func trailJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCloudTrailEventsDemoFleet checks the story the demo fleet tells
// about ci-deploy's key: the calls from the intruder's address that the
// starter IAM policy's recorded facts rest on are all there, as recorded.
func TestCloudTrailEventsDemoFleet(t *testing.T) {
	seed, err := awsemu.LoadSeed("../internal/demo/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(awsemu.New(seed))
	t.Cleanup(srv.Close)
	f, err := awsclient.New(context.Background(), awsclient.Options{
		Region: "us-west-2", Endpoint: srv.URL, MaxBackoff: time.Millisecond,
		AssumeRoleARN: "arn:aws:iam::{account}:role/cordon-responder",
		Credentials:   credentials.NewStaticCredentialsProvider("AKIAEMUCORDONDEMO001", "emulator/demo/secret/not/a/real/one/000", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../policies/testdata/findings/iam_discovery_anomalous_behavior.json")
	if err != nil {
		t.Fatal(err)
	}
	findings, err := schema.Parse("iam_discovery_anomalous_behavior.json", data)
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Finding: findings[0], Resource: findings[0].Resource, AWS: f}
	facts, err := newTrailCollector(t, nil, 0).Collect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	checkFactsSchema(t, "aws_cloudtrail_events", facts)

	var recorded struct {
		Trail struct{ Events []map[string]any } `json:"trail"`
	}
	data, err = os.ReadFile("../policies/testdata/facts/iam_anomalous_persistence.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &recorded); err != nil {
		t.Fatal(err)
	}
	const intruder = "198.51.100.61"
	byTime := map[any]map[string]any{}
	for _, e := range facts["events"].([]any) {
		m := e.(map[string]any)
		if m["access_key_id"] != "AKIAXQ4G7NF2CIDEPLOY" {
			t.Errorf("an event of another key: %s", trailJSON(m))
		}
		byTime[m["time"]] = m
	}
	n := 0
	for _, want := range recorded.Trail.Events {
		if want["source_ip"] != intruder {
			continue
		}
		n++
		got := byTime[want["time"]]
		for _, k := range []string{"event_name", "event_source", "user", "access_key_id", "source_ip", "error_code", "read_only"} {
			if got == nil || got[k] != want[k] {
				t.Errorf("%s %s: %s = %v, recorded %v", want["time"], want["event_name"], k, got[k], want[k])
			}
		}
	}
	if n == 0 {
		t.Fatal("the recorded facts have no intruder calls")
	}
}

// BenchmarkParseTrailEvent measures reading one typical record, done up
// to max_events (default 1000) times per collection.
func BenchmarkParseTrailEvent(b *testing.B) {
	ev := cttypes.Event{EventId: aws.String("e1"), EventTime: aws.Time(time.Date(2025, 3, 14, 11, 34, 20, 0, time.UTC)),
		Username: aws.String("ci-deploy"), Resources: []cttypes.Resource{{ResourceName: aws.String("svc-backup")}},
		CloudTrailEvent: aws.String(`{"eventVersion":"1.08","eventID":"e1","eventTime":"2025-03-14T11:34:20Z","eventSource":"iam.amazonaws.com",
		"eventName":"AttachUserPolicy","awsRegion":"us-west-2","readOnly":false,"sourceIPAddress":"198.51.100.61",
		"userAgent":"aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/iam.attach-user-policy",
		"userIdentity":{"type":"IAMUser","principalId":"AIDAXQ4G7NF2CIDEPLOY","arn":"arn:aws:iam::123456789012:user/ci-deploy","accountId":"123456789012","accessKeyId":"AKIAXQ4G7NF2CIDEPLOY","userName":"ci-deploy"},
		"requestParameters":{"userName":"svc-backup","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,
		"requestID":"5f0c1d2e","eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}`)}
	b.ReportAllocs()
	for b.Loop() {
		e := parseTrailEvent(&ev)
		_ = e.facts()
	}
}

// Without usable credentials the collector fails at once, without waiting
// its turn in the pacer and without calling LookupEvents: a plan of many
// findings run without credentials reports the cause in each quickly.
func TestCloudTrailEventsWithoutCredentials(t *testing.T) {
	env := newTestEnv(t)
	f, err := awsclient.New(context.Background(), awsclient.Options{
		Region: region, Endpoint: env.srv.URL, AssumeRoleARN: "arn:aws:iam::{account}:role/cordon-responder",
		Credentials: credentials.NewStaticCredentialsProvider("AKIANOTINTHEFLEET000", "secret", ""),
		Version:     "test", MaxBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := newTrailCollector(t, nil, time.Hour) // a second call would wait an hour
	for i := range 2 {
		req := env.request(trailWeb1)
		req.AWS = f
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Collect(ctx, req)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "looking up CloudTrail events") || !strings.Contains(err.Error(), "InvalidClientTokenId") {
			t.Fatalf("call %d: %v, want the credentials' error", i, err)
		}
	}
	for _, call := range env.emu.Calls() {
		if call.Action() == "cloudtrail:LookupEvents" {
			t.Fatalf("LookupEvents was called without credentials")
		}
	}
}
