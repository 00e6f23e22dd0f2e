package awsemu

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

func lookup1(key cttypes.LookupAttributeKey, value string) []cttypes.LookupAttribute {
	return []cttypes.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(value)}}
}

func eventNames(out *cloudtrail.LookupEventsOutput) []string {
	var n []string
	for _, e := range out.Events {
		n = append(n, *e.EventName)
	}
	return n
}

func TestLookupEvents(t *testing.T) {
	e := newEnv(t)
	c := cloudtrail.NewFromConfig(e.prod())
	cases := []struct {
		name string
		in   cloudtrail.LookupEventsInput
		want []string
	}{
		{"all, newest first", cloudtrail.LookupEventsInput{}, []string{"CreateAccessKey", "GetCallerIdentity", "ModifyInstanceAttribute", "DescribeInstances", "StopInstances"}},
		{"resource name", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyResourceName, web1)}, []string{"ModifyInstanceAttribute"}},
		{"resource from instancesSet", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyResourceName, batch1)}, []string{"StopInstances"}},
		{"access key", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyAccessKeyId, malloryKey)}, []string{"CreateAccessKey", "GetCallerIdentity"}},
		{"user name", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyUsername, "mallory")}, []string{"CreateAccessKey", "GetCallerIdentity"}},
		{"assumed role session", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyUsername, web1)}, []string{"ModifyInstanceAttribute", "DescribeInstances"}},
		{"event name", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyEventName, "StopInstances")}, []string{"StopInstances"}},
		{"read only", cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyReadOnly, "true")}, []string{"GetCallerIdentity", "DescribeInstances"}},
		{"time window", cloudtrail.LookupEventsInput{StartTime: aws.Time(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)), EndTime: aws.Time(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))},
			[]string{"GetCallerIdentity", "ModifyInstanceAttribute", "DescribeInstances"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.LookupEvents(ctx, &tc.in)
			wantOK(t, err)
			if got := eventNames(out); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	out, err := c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyEventName, "CreateAccessKey")})
	wantOK(t, err)
	ev := out.Events[0]
	var rec map[string]any
	if err := json.Unmarshal([]byte(*ev.CloudTrailEvent), &rec); err != nil || rec["eventName"] != "CreateAccessKey" {
		t.Errorf("CloudTrailEvent is not the record: %v %s", err, *ev.CloudTrailEvent)
	}
	if *ev.Username != "mallory" || *ev.AccessKeyId != malloryKey || *ev.ReadOnly != "false" || *ev.EventSource != "iam.amazonaws.com" ||
		!ev.EventTime.Equal(time.Date(2025, 3, 1, 12, 3, 0, 0, time.UTC)) || len(ev.Resources) != 1 || *ev.Resources[0].ResourceName != "alice" {
		t.Errorf("event %+v", ev)
	}

	// Pages of two.
	var names []string
	p := cloudtrail.NewLookupEventsPaginator(c, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		wantOK(t, err)
		names, pages = append(names, eventNames(page)...), pages+1
	}
	if len(names) != 5 || pages != 3 {
		t.Errorf("paged %v in %d pages", names, pages)
	}

	errs := []struct {
		name string
		in   cloudtrail.LookupEventsInput
		code string
	}{
		{"two attributes", cloudtrail.LookupEventsInput{LookupAttributes: append(lookup1(cttypes.LookupAttributeKeyEventName, "a"), lookup1(cttypes.LookupAttributeKeyUsername, "b")...)}, "InvalidLookupAttributesException"},
		{"unknown key", cloudtrail.LookupEventsInput{LookupAttributes: lookup1("Colour", "red")}, "InvalidLookupAttributesException"},
		{"reversed window", cloudtrail.LookupEventsInput{StartTime: aws.Time(testNow), EndTime: aws.Time(testNow.Add(-time.Hour))}, "InvalidTimeRangeException"},
		{"too many results", cloudtrail.LookupEventsInput{MaxResults: aws.Int32(51)}, "InvalidMaxResultsException"},
		{"bad token", cloudtrail.LookupEventsInput{NextToken: aws.String("nope")}, "InvalidNextTokenException"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.LookupEvents(ctx, &tc.in)
			wantCode(t, err, tc.code)
		})
	}

	// Faults for any resource apply to lookups with and without an
	// attribute; those for one resource only to lookups naming it.
	e.emu.Faults().Fail("cloudtrail:LookupEvents", web1, "InvalidLookupAttributesException", "injected")
	_, err = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: lookup1(cttypes.LookupAttributeKeyUsername, web1)})
	wantCode(t, err, "InvalidLookupAttributesException")
	_, err = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
	wantOK(t, err)
	e.emu.Faults().Fail("cloudtrail:LookupEvents", "*", "InvalidTimeRangeException", "injected")
	_, err = c.LookupEvents(ctx, &cloudtrail.LookupEventsInput{})
	wantCode(t, err, "InvalidTimeRangeException")
}
