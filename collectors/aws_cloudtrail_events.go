package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/wait"
	"github.com/cordonhq/cordon/schema"
)

// cloudtrailEventsCollector gathers the CloudTrail management events that
// name the investigated resource or principal, newest first up to its
// bound, as timeline entries in time order.
type cloudtrailEventsCollector struct {
	lookback  time.Duration
	maxEvents int
	// pace is the least time between two LookupEvents calls in one
	// account and region, which pacer keeps across collectors.
	pace  time.Duration
	pacer *callPacer
}

const (
	// trailDefaultLookback is how far before the finding events are looked
	// up when the block does not say.
	trailDefaultLookback = 24 * time.Hour
	// trailMaxLookback is CloudTrail's event history: LookupEvents finds
	// nothing older.
	trailMaxLookback = 90 * 24 * time.Hour
	trailDefaultMax  = 1000
	trailMaxMax      = 10000
	// trailPageSize is LookupEvents' largest page.
	trailPageSize = 50
	// trailPace keeps within LookupEvents' rate limit, 2 calls a second per
	// account and region.
	trailPace = 500 * time.Millisecond
	// trailAfterFinding extends the window past the finding's last update:
	// CloudTrail delivers events up to about 15 minutes late, and what the
	// principal did right after the finding matters most to the verdict.
	trailAfterFinding = time.Hour
	// trailMaxString and trailMaxResources bound one event's facts: user
	// agents are the caller's to choose.
	trailMaxString    = 1024
	trailMaxResources = 50
)

func init() {
	Register(&Definition{
		Type:           "aws_cloudtrail_events",
		Summary:        "CloudTrail events naming the resource or principal within lookback",
		DefaultTimeout: time.Minute,
		FactsSchema:    "aws_cloudtrail_events",
		Attributes: hcldec.ObjectSpec{
			"lookback":   &hcldec.AttrSpec{Name: "lookback", Type: cty.String},
			"max_events": &hcldec.AttrSpec{Name: "max_events", Type: cty.Number},
		},
		New: newCloudtrailEventsCollector,
	})
}

func newCloudtrailEventsCollector(cfg cty.Value) (Collector, error) {
	c := &cloudtrailEventsCollector{lookback: trailDefaultLookback, pace: trailPace, pacer: trailPacer}
	if v := cfg.GetAttr("lookback"); !v.IsNull() && v.IsKnown() {
		d, err := time.ParseDuration(v.AsString())
		if err != nil || d <= 0 {
			return nil, &AttributeError{Attribute: "lookback", Summary: "Invalid duration",
				Detail: fmt.Sprintf("%q is not a positive duration like \"24h\" or \"90m\".", v.AsString())}
		}
		if d > trailMaxLookback {
			return nil, &AttributeError{Attribute: "lookback", Summary: "Lookback too long",
				Detail: fmt.Sprintf("%s is longer than CloudTrail's event history of 90 days (2160h).", v.AsString())}
		}
		c.lookback = d
	}
	n, err := boundedIntAttr(cfg, "max_events", trailDefaultMax, trailMaxMax)
	if err != nil {
		return nil, err
	}
	c.maxEvents = n
	return c, nil
}

// boundedIntAttr reads an optional whole-number attribute in [1, max].
func boundedIntAttr(cfg cty.Value, name string, def, max int) (int, error) {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return def, nil
	}
	f := v.AsBigFloat()
	n, acc := f.Int64()
	if acc != big.Exact || n < 1 || n > int64(max) {
		return 0, &AttributeError{Attribute: name, Summary: "Invalid number",
			Detail: fmt.Sprintf("%s must be a whole number from 1 to %d; it is %s.", name, max, f.Text('g', 10))}
	}
	return int(n), nil
}

func (c *cloudtrailEventsCollector) Permissions() []string {
	return []string{"cloudtrail:LookupEvents"}
}

func (c *cloudtrailEventsCollector) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	if req.AWS == nil {
		return nil, errors.New("aws_cloudtrail_events needs AWS access, and this run has none")
	}
	if req.Finding == nil {
		return nil, errors.New("aws_cloudtrail_events needs the finding's account and region")
	}
	attrs, err := trailLookupAttributes(req.Resource)
	if err != nil {
		return nil, err
	}
	start, end := c.window(req)
	account, region := req.Finding.Account, req.Finding.Region
	// Without credentials every call fails: say so at once rather than
	// after waiting a turn in the pacer.
	if err := req.AWS.CheckCredentials(ctx, account, region); err != nil {
		return nil, fmt.Errorf("looking up CloudTrail events: %w", err)
	}
	client := req.AWS.CloudTrail(account, region)
	paceKey := account + "/" + region

	lookups := make([]*trailLookup, len(attrs))
	for i, a := range attrs {
		lookups[i] = &trailLookup{attr: a, pages: cloudtrail.NewLookupEventsPaginator(client, &cloudtrail.LookupEventsInput{
			LookupAttributes: []cttypes.LookupAttribute{a},
			StartTime:        aws.Time(start),
			EndTime:          aws.Time(end),
			MaxResults:       aws.Int32(trailPageSize),
		})}
	}
	pace := func(ctx context.Context) error { return c.pacer.wait(ctx, paceKey, c.pace) }

	// Each lookup answers newest first; merging them by time keeps the
	// newest maxEvents distinct events of them all, reading only the pages
	// needed for that.
	seen := map[string]bool{}
	var entries []trailEntry
	truncated := false
	for {
		var next *trailLookup
		for _, l := range lookups {
			ok, err := l.fill(ctx, pace)
			if err != nil {
				return nil, err
			}
			if ok && (next == nil || trailNewer(&l.buf[0], &next.buf[0])) {
				next = l
			}
		}
		if next == nil {
			break
		}
		ev := next.buf[0]
		next.buf = next.buf[1:]
		id := aws.ToString(ev.EventId)
		if id == "" {
			id = aws.ToString(ev.CloudTrailEvent)
		}
		if seen[id] {
			continue
		}
		if len(entries) == c.maxEvents {
			truncated = true
			break
		}
		seen[id] = true
		entries = append(entries, parseTrailEvent(&ev))
	}

	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].time.Equal(entries[j].time) {
			return entries[i].time.Before(entries[j].time)
		}
		return entries[i].id < entries[j].id
	})
	events := make([]any, len(entries))
	for i := range entries {
		events[i] = entries[i].facts()
	}
	return map[string]any{"events": events, "truncated": truncated}, nil
}

// window is the time range looked up: lookback before the finding's last
// update (plus a margin), or before now when the finding has no time.
func (c *cloudtrailEventsCollector) window(req *Request) (start, end time.Time) {
	now := req.now().UTC()
	end = now
	for _, s := range []string{req.Finding.UpdatedAt, req.Finding.CreatedAt} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			if e := t.UTC().Add(trailAfterFinding); e.Before(now) {
				end = e
			}
			break
		}
	}
	return end.Add(-c.lookback), end
}

// trailLookupAttributes are the LookupEvents queries (one attribute each,
// as the API allows) naming a resource or the principal it is.
func trailLookupAttributes(r schema.Resource) ([]cttypes.LookupAttribute, error) {
	if r.ID == "" {
		return nil, fmt.Errorf("the finding's resource (type %q) has no id to look up CloudTrail events for", r.Type)
	}
	attr := func(k cttypes.LookupAttributeKey, v string) cttypes.LookupAttribute {
		return cttypes.LookupAttribute{AttributeKey: k, AttributeValue: aws.String(v)}
	}
	switch r.Type {
	case schema.ResourceInstance:
		// What was done to the instance, and what its instance profile's
		// credentials did: EC2 names those role sessions after the
		// instance, and LookupEvents names a session's caller by it.
		return []cttypes.LookupAttribute{
			attr(cttypes.LookupAttributeKeyResourceName, r.ID),
			attr(cttypes.LookupAttributeKeyUsername, r.ID),
		}, nil
	case schema.ResourceAccessKey:
		return []cttypes.LookupAttribute{attr(cttypes.LookupAttributeKeyAccessKeyId, r.ID)}, nil
	case schema.ResourceIAMUser:
		// What the user did, and what was done to it (new keys, policies).
		return []cttypes.LookupAttribute{
			attr(cttypes.LookupAttributeKeyUsername, r.ID),
			attr(cttypes.LookupAttributeKeyResourceName, r.ID),
		}, nil
	case schema.ResourceIAMRole:
		// A role's sessions are named by whoever assumed it; events name the
		// role itself by name (CreateRole, AttachRolePolicy) or by ARN
		// (AssumeRole).
		out := []cttypes.LookupAttribute{attr(cttypes.LookupAttributeKeyResourceName, r.ID)}
		if r.ARN != "" && r.ARN != r.ID {
			out = append(out, attr(cttypes.LookupAttributeKeyResourceName, r.ARN))
		}
		return out, nil
	}
	return []cttypes.LookupAttribute{attr(cttypes.LookupAttributeKeyResourceName, r.ID)}, nil
}

// trailLookup is one LookupEvents query, read a page at a time as the
// merge needs it.
type trailLookup struct {
	attr  cttypes.LookupAttribute
	pages *cloudtrail.LookupEventsPaginator
	buf   []cttypes.Event
}

// fill makes buf hold the lookup's next unread events, fetching a page if
// needed; false when the lookup has no more.
func (l *trailLookup) fill(ctx context.Context, pace func(context.Context) error) (bool, error) {
	for len(l.buf) == 0 {
		if !l.pages.HasMorePages() {
			return false, nil
		}
		if err := pace(ctx); err != nil {
			return false, l.errorf(err)
		}
		page, err := l.pages.NextPage(ctx)
		if err != nil {
			return false, l.errorf(err)
		}
		l.buf = page.Events
	}
	return true, nil
}

func (l *trailLookup) errorf(err error) error {
	return fmt.Errorf("looking up CloudTrail events with %s %s: %w", l.attr.AttributeKey, aws.ToString(l.attr.AttributeValue), err)
}

// trailNewer orders events newest first, as LookupEvents does, and by id
// among events of the same second.
func trailNewer(a, b *cttypes.Event) bool {
	ta, tb := aws.ToTime(a.EventTime), aws.ToTime(b.EventTime)
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return aws.ToString(a.EventId) > aws.ToString(b.EventId)
}

// callPacer spaces calls per key (an account and region): the rate limits of
// the APIs it paces are shared by every caller there, so concurrent
// investigations take turns instead of throttling each other.
type callPacer struct {
	mu   sync.Mutex
	next map[string]time.Time // the earliest time of the next call
}

// trailPacer paces every LookupEvents call of the process. Its map holds
// one entry per account and region ever investigated: a few thousand at
// most.
var trailPacer = newCallPacer()

func newCallPacer() *callPacer { return &callPacer{next: map[string]time.Time{}} }

// reserve books the next call for key at or after now and returns its
// time. A call that could not be made by deadline (when not zero) is not
// booked, so it does not delay the callers after it.
func (p *callPacer) reserve(key string, now, deadline time.Time, interval time.Duration) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := p.next[key]
	if slot.Before(now) {
		slot = now
	}
	if !deadline.IsZero() && slot.After(deadline) {
		return slot, false
	}
	p.next[key] = slot.Add(interval)
	return slot, true
}

// wait blocks until the caller's turn for key, or fails at once when ctx
// would end before it.
func (p *callPacer) wait(ctx context.Context, key string, interval time.Duration) error {
	if interval <= 0 {
		return ctx.Err()
	}
	deadline, _ := ctx.Deadline()
	slot, ok := p.reserve(key, time.Now(), deadline, interval)
	if !ok {
		return fmt.Errorf("the rate limit allows the next call only after the timeout: %w", context.DeadlineExceeded)
	}
	return wait.Sleep(ctx, time.Until(slot))
}

// trailEntry is one event as the facts show it.
type trailEntry struct {
	id          string
	time        time.Time
	eventName   string
	eventSource string
	user        string
	accessKeyID string
	sourceIP    string
	userAgent   string
	errorCode   string
	resources   []string
	readOnly    *bool
}

func (e *trailEntry) facts() map[string]any {
	res := make([]any, len(e.resources))
	for i, r := range e.resources {
		res[i] = r
	}
	m := map[string]any{
		"event_name":    e.eventName,
		"event_source":  e.eventSource,
		"user":          e.user,
		"access_key_id": e.accessKeyID,
		"source_ip":     e.sourceIP,
		"user_agent":    e.userAgent,
		"error_code":    e.errorCode,
		"resources":     res,
	}
	if !e.time.IsZero() {
		m["time"] = e.time.UTC().Format(time.RFC3339Nano)
	}
	if e.readOnly != nil {
		m["read_only"] = *e.readOnly
	}
	return m
}

// trailRecord is the part of a CloudTrail record the facts use. Fields
// whose type a record may vary are decoded loosely.
type trailRecord struct {
	EventID         string `json:"eventID"`
	EventTime       string `json:"eventTime"`
	EventName       string `json:"eventName"`
	EventSource     string `json:"eventSource"`
	SourceIPAddress string `json:"sourceIPAddress"`
	UserAgent       string `json:"userAgent"`
	ErrorCode       string `json:"errorCode"`
	ReadOnly        any    `json:"readOnly"`
	UserIdentity    struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		UserName       string `json:"userName"`
		PrincipalID    string `json:"principalId"`
		AccessKeyID    string `json:"accessKeyId"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext struct {
			SessionIssuer struct {
				UserName string `json:"userName"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
}

// parseTrailEvent reads an event from its CloudTrail record, falling back
// on LookupEvents' own fields for what the record lacks or garbles.
func parseTrailEvent(ev *cttypes.Event) trailEntry {
	var rec trailRecord
	if s := aws.ToString(ev.CloudTrailEvent); s != "" {
		// A field of an unexpected type leaves that field empty and the
		// rest decoded; a record that is not JSON leaves all of it empty.
		var typeErr *json.UnmarshalTypeError
		if err := json.Unmarshal([]byte(s), &rec); err != nil && !errors.As(err, &typeErr) {
			rec = trailRecord{}
		}
	}
	e := trailEntry{
		id:          trailFirst(aws.ToString(ev.EventId), rec.EventID),
		time:        aws.ToTime(ev.EventTime),
		eventName:   clipFactString(trailFirst(rec.EventName, aws.ToString(ev.EventName))),
		eventSource: clipFactString(trailFirst(rec.EventSource, aws.ToString(ev.EventSource))),
		user:        clipFactString(trailUser(&rec, aws.ToString(ev.Username))),
		accessKeyID: clipFactString(trailFirst(rec.UserIdentity.AccessKeyID, aws.ToString(ev.AccessKeyId))),
		sourceIP:    clipFactString(rec.SourceIPAddress),
		userAgent:   clipFactString(rec.UserAgent),
		errorCode:   clipFactString(rec.ErrorCode),
	}
	if e.time.IsZero() {
		if t, err := time.Parse(time.RFC3339Nano, rec.EventTime); err == nil {
			e.time = t
		}
	}
	e.readOnly = trailBool(rec.ReadOnly)
	if e.readOnly == nil {
		e.readOnly = trailBool(aws.ToString(ev.ReadOnly))
	}

	// The ARNs the record lists, then the names LookupEvents adds that no
	// ARN already covers (most management events list no ARNs).
	for _, r := range rec.Resources {
		if r.ARN != "" && len(e.resources) < trailMaxResources {
			e.resources = append(e.resources, clipFactString(r.ARN))
		}
	}
	for _, r := range ev.Resources {
		name := aws.ToString(r.ResourceName)
		if name == "" || len(e.resources) >= trailMaxResources || trailCovered(e.resources, name) {
			continue
		}
		e.resources = append(e.resources, clipFactString(name))
	}
	return e
}

// trailUser names the caller: an IAM user by name, a role session as
// role/session, the root user as root, a service by its name.
func trailUser(rec *trailRecord, lookupName string) string {
	id := &rec.UserIdentity
	switch id.Type {
	case "IAMUser":
		if id.UserName != "" {
			return id.UserName
		}
	case "AssumedRole":
		// arn:aws:sts::123456789012:assumed-role/ROLE/SESSION
		if _, rest, ok := strings.Cut(id.ARN, ":assumed-role/"); ok && rest != "" {
			return rest
		}
		if role := id.SessionContext.SessionIssuer.UserName; role != "" && lookupName != "" {
			return role + "/" + lookupName
		}
	case "Root":
		return "root"
	case "AWSService":
		if id.InvokedBy != "" {
			return id.InvokedBy
		}
	}
	return trailFirst(id.UserName, lookupName, id.PrincipalID)
}

// trailCovered reports whether name is the last part of one of arns.
func trailCovered(arns []string, name string) bool {
	for _, a := range arns {
		if a == name || strings.HasSuffix(a, "/"+name) || strings.HasSuffix(a, ":"+name) {
			return true
		}
	}
	return false
}

// trailBool reads a record's readOnly, a JSON boolean (or, from
// LookupEvents, the string "true" or "false").
func trailBool(v any) *bool {
	var b bool
	switch x := v.(type) {
	case bool:
		b = x
	case string:
		switch x {
		case "true":
			b = true
		case "false":
		default:
			return nil
		}
	default:
		return nil
	}
	return &b
}

func trailFirst(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// clipFactString bounds a string from a record, cutting at a rune boundary.
func clipFactString(s string) string {
	if len(s) <= trailMaxString {
		return s
	}
	cut := trailMaxString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
