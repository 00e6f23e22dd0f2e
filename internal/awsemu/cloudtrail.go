package awsemu

import (
	"math"
	"time"
)

// CloudTrail speaks awsJson1_1 (X-Amz-Target:
// CloudTrail_20131101.LookupEvents). Its events come from the seed.
var cloudtrailAPI = jsonErrors(&api{id: "cloudtrail", prefix: "cloudtrail", protocol: protoJSON})

func init() {
	cloudtrailAPI.ops = map[string]handler{"LookupEvents": lookupEvents}
}

var lookupKeys = map[string]func(*TrailEvent, string) bool{
	"EventId":     func(e *TrailEvent, v string) bool { return e.ID == v },
	"EventName":   func(e *TrailEvent, v string) bool { return e.Name == v },
	"ReadOnly":    func(e *TrailEvent, v string) bool { return e.ReadOnly == v },
	"Username":    func(e *TrailEvent, v string) bool { return e.Username == v },
	"EventSource": func(e *TrailEvent, v string) bool { return e.Source == v },
	"AccessKeyId": func(e *TrailEvent, v string) bool { return e.AccessKeyID == v },
	"ResourceType": func(e *TrailEvent, v string) bool {
		for _, r := range e.Resources {
			if r.Type == v {
				return true
			}
		}
		return false
	},
	"ResourceName": func(e *TrailEvent, v string) bool {
		for _, r := range e.Resources {
			if r.Name == v {
				return true
			}
		}
		return false
	},
}

func epochSeconds(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func lookupEvents(r *request) (any, error) {
	var in struct {
		LookupAttributes []struct {
			AttributeKey   string
			AttributeValue string
		}
		StartTime     *float64
		EndTime       *float64
		EventCategory string
		MaxResults    *int
		NextToken     string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.LookupAttributes) > 1 {
		return nil, clientErr("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
	}
	if len(in.LookupAttributes) == 0 {
		// Names no resource: only Fail faults for any resource apply.
		if err := r.resources(); err != nil {
			return nil, err
		}
	}
	var match func(*TrailEvent) bool
	for _, a := range in.LookupAttributes {
		f, ok := lookupKeys[a.AttributeKey]
		if !ok {
			return nil, clientErr("InvalidLookupAttributesException", "Lookup attribute key %q is not valid.", a.AttributeKey)
		}
		if a.AttributeValue == "" {
			return nil, clientErr("InvalidLookupAttributesException", "The lookup attribute %s needs a value.", a.AttributeKey)
		}
		if err := r.resources(a.AttributeValue); err != nil {
			return nil, err
		}
		v := a.AttributeValue
		match = func(e *TrailEvent) bool { return f(e, v) }
	}
	var start, end time.Time
	if in.StartTime != nil {
		start = epochSeconds(*in.StartTime)
	}
	if in.EndTime != nil {
		end = epochSeconds(*in.EndTime)
	}
	if in.StartTime != nil && in.EndTime != nil && start.After(end) {
		return nil, clientErr("InvalidTimeRangeException", "Start time must be earlier than end time.")
	}
	switch in.EventCategory {
	case "":
	case "insight":
		return struct {
			Events []struct{} `json:"Events"`
		}{[]struct{}{}}, nil
	default:
		return nil, clientErr("InvalidEventCategoryException", "Event category %q is not valid.", in.EventCategory)
	}
	max := 50
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			return nil, clientErr("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
		}
		max = *in.MaxResults
	}

	var events []*TrailEvent
	for _, e := range r.region.Events {
		if in.StartTime != nil && e.Time.Before(start) {
			continue
		}
		if in.EndTime != nil && e.Time.After(end) {
			continue
		}
		if match != nil && !match(e) {
			continue
		}
		events = append(events, e)
	}
	if in.NextToken != "" {
		last, ok := decodeToken(r.op, in.NextToken)
		i := 0
		for ; ok && i < len(events); i++ {
			if events[i].ID == last {
				break
			}
		}
		if !ok || i == len(events) {
			return nil, clientErr("InvalidNextTokenException", "Invalid NextToken.")
		}
		events = events[i+1:]
	}

	type resource struct {
		ResourceType string `json:"ResourceType,omitempty"`
		ResourceName string `json:"ResourceName"`
	}
	type event struct {
		EventId         string     `json:"EventId"`
		EventName       string     `json:"EventName"`
		ReadOnly        string     `json:"ReadOnly,omitempty"`
		AccessKeyId     string     `json:"AccessKeyId,omitempty"`
		EventTime       epochTime  `json:"EventTime"`
		EventSource     string     `json:"EventSource"`
		Username        string     `json:"Username,omitempty"`
		Resources       []resource `json:"Resources"`
		CloudTrailEvent string     `json:"CloudTrailEvent"`
	}
	out := struct {
		Events    []event `json:"Events"`
		NextToken string  `json:"NextToken,omitempty"`
	}{Events: []event{}}
	if len(events) > max {
		out.NextToken = encodeToken(r.op, events[max-1].ID)
		events = events[:max]
	}
	for _, e := range events {
		x := event{EventId: e.ID, EventName: e.Name, ReadOnly: e.ReadOnly, AccessKeyId: e.AccessKeyID, EventTime: epochTime(e.Time),
			EventSource: e.Source, Username: e.Username, Resources: []resource{}, CloudTrailEvent: e.Record}
		for _, res := range e.Resources {
			x.Resources = append(x.Resources, resource{res.Type, res.Name})
		}
		out.Events = append(out.Events, x)
	}
	return out, nil
}
