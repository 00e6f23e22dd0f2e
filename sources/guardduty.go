package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gdtypes "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/wait"
)

// guarddutySource polls GuardDuty for findings updated since it last
// looked: pull mode, which needs no EventBridge rule and repairs events
// that were dropped on the way.
//
//	source "guardduty" "poll" {
//	  regions  = ["us-west-2", "eu-central-1"]
//	  interval = "5m"
//	  account  = "123456789012"  # default: the account of cordon's credentials
//	  lookback = "1h"            # how far back the first poll looks
//	}
//
// Each interval, in each region, it lists the detectors and, for each,
// the findings updated at or after its cursor (oldest first, archived
// ones left out), and hands each page to the sink as GuardDuty's own
// GetFindings response together with the new cursor, so that the cursor
// moves in the transaction that records the findings. The cursor is read
// from state at every poll, so replicas sharing a state share it.
//
// The account is whose detectors are polled, with the provider's
// credentials for it: with assume_role_arn, the role assumed in that
// account, as for every call cordon makes there. Polling the GuardDuty
// administrator (or delegated administrator) account sees its member
// accounts' findings too. Left out, it is the account of cordon's own
// credentials (sts:GetCallerIdentity, which needs no permission), where
// the role is assumed as well when assume_role_arn is set.
type guarddutySource struct {
	regions  []string
	interval time.Duration
	account  string // empty: the credentials' account
	lookback time.Duration
}

const (
	guarddutyDefaultInterval = 5 * time.Minute
	guarddutyMinInterval     = time.Second
	guarddutyMaxInterval     = 24 * time.Hour
	guarddutyDefaultLookback = time.Hour
	// GuardDuty keeps findings 90 days.
	guarddutyMaxLookback = 90 * 24 * time.Hour
	// guarddutyPageSize is the most ListFindings lists and GetFindings
	// describes in one call.
	guarddutyPageSize = 50
	// guarddutyMaxBody bounds a GetFindings response read: fifty
	// findings, even large ones, are a small fraction of it.
	guarddutyMaxBody = 32 << 20
	// guarddutySettle is how far behind the poll's start the cursor
	// stays. A finding updated while a poll runs may be missed by a
	// listing already past it, and GuardDuty's listing may lag its
	// updates, or cordon's clock GuardDuty's; a cursor held back this far
	// makes the next poll list those again. What the previous poll got
	// already comes again, and the sink drops it as a duplicate.
	guarddutySettle = time.Minute
)

func init() {
	Register(&Definition{
		Type:    "guardduty",
		Summary: "Poll GuardDuty for new and updated findings",
		Attributes: hcldec.ObjectSpec{
			"regions":  &hcldec.AttrSpec{Name: "regions", Type: cty.List(cty.String), Required: true},
			"interval": &hcldec.AttrSpec{Name: "interval", Type: cty.String},
			"account":  &hcldec.AttrSpec{Name: "account", Type: cty.String},
			"lookback": &hcldec.AttrSpec{Name: "lookback", Type: cty.String},
		},
		IAMActions: []string{"guardduty:GetFindings", "guardduty:ListDetectors", "guardduty:ListFindings"},
		New:        newGuardDutySource,
	})
}

func newGuardDutySource(cfg cty.Value) (Source, error) {
	s := &guarddutySource{}
	v := cfg.GetAttr("regions")
	if v.IsNull() || v.LengthInt() == 0 {
		return nil, &AttributeError{Attribute: "regions", Summary: "No regions",
			Detail: `regions lists the regions to poll, like ["us-west-2"].`}
	}
	seen := map[string]bool{}
	for it := v.ElementIterator(); it.Next(); {
		_, rv := it.Element()
		if rv.IsNull() {
			return nil, &AttributeError{Attribute: "regions", Summary: "Invalid region", Detail: "A region cannot be null."}
		}
		r := rv.AsString()
		if err := checkRegion("regions", r); err != nil {
			return nil, err
		}
		if seen[r] {
			return nil, &AttributeError{Attribute: "regions", Summary: "Duplicate region",
				Detail: fmt.Sprintf("%s is listed twice.", r)}
		}
		seen[r] = true
		s.regions = append(s.regions, r)
	}
	var err error
	if s.interval, err = attrDuration(cfg, "interval", guarddutyDefaultInterval, guarddutyMinInterval, guarddutyMaxInterval); err != nil {
		return nil, err
	}
	if s.lookback, err = attrDuration(cfg, "lookback", guarddutyDefaultLookback, guarddutySettle, guarddutyMaxLookback); err != nil {
		return nil, err
	}
	if a := attrString(cfg, "account"); a != "" {
		if err := checkAccount("account", a); err != nil {
			return nil, err
		}
		s.account = a
	}
	return s, nil
}

// sinkError is a failure of the sink, not of GuardDuty: state is
// unavailable, and the poll is retried soon.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return "recording findings: " + e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// Run polls until ctx is done: at once, then every interval; a region
// whose poll failed for a transient reason (throttling after the SDK's
// retries, a 5xx, state unavailable) is polled again sooner, with
// backoff.
func (s *guarddutySource) Run(ctx context.Context, env *Env) error {
	if env.AWS == nil {
		return errNoAWS
	}
	p := &gdPoller{s: s, env: env, log: env.Logger, now: env.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	account, err := p.resolveAccount(ctx)
	if err != nil {
		return nil // stopped while finding it
	}
	p.account = account
	p.log.Info("polling GuardDuty", "account", account, "regions", strings.Join(s.regions, ","), "interval", s.interval)

	type regionState struct {
		due  time.Time
		bo   *backoff
		fail string
	}
	states := make([]*regionState, len(s.regions))
	for i := range states {
		states[i] = &regionState{bo: newBackoff(backoffBase, backoffMax)}
	}
	for {
		for i, region := range s.regions {
			st := states[i]
			if time.Now().Before(st.due) {
				continue
			}
			err := p.poll(ctx, region)
			if ctx.Err() != nil {
				return nil
			}
			var se *sinkError
			switch {
			case err == nil:
				st.fail = ""
				st.bo.reset()
				st.due = time.Now().Add(s.interval)
			case transient(err) || errors.As(err, &se):
				st.fail = err.Error()
				d := min(st.bo.next(), s.interval)
				st.due = time.Now().Add(d)
				p.log.Warn("polling GuardDuty failed; retrying", "region", region, "error", err, "retry_in", d)
			default:
				st.fail = err.Error()
				st.due = time.Now().Add(s.interval)
				p.log.Error("polling GuardDuty failed; retrying at the next interval", "region", region, "error", err, "retry_in", s.interval)
			}
		}
		var fails []string
		next := states[0].due
		for i, st := range states {
			if st.fail != "" {
				fails = append(fails, s.regions[i]+": "+st.fail)
			}
			if st.due.Before(next) {
				next = st.due
			}
		}
		if len(fails) > 0 {
			env.Status.Set(Error, strings.Join(fails, "; "))
		} else {
			env.Status.Set(OK, "")
		}
		if wait.Sleep(ctx, time.Until(next)) != nil {
			return nil
		}
	}
}

// gdPoller is one run of a GuardDuty source.
type gdPoller struct {
	s       *guarddutySource
	env     *Env
	log     *slog.Logger
	now     func() time.Time
	account string
}

// resolveAccount returns the configured account, or the credentials'
// own, retrying until it is known or ctx is done.
func (p *gdPoller) resolveAccount(ctx context.Context) (string, error) {
	if p.s.account != "" {
		return p.s.account, nil
	}
	bo := newBackoff(backoffBase, backoffMax)
	for {
		out, err := p.env.AWS.STS("", p.s.regions[0]).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil && aws.ToString(out.Account) != "" {
			return aws.ToString(out.Account), nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if err == nil {
			err = errors.New("GetCallerIdentity returned no account")
		}
		d := bo.next()
		p.env.Status.Set(Error, "finding the account of cordon's credentials: "+err.Error())
		p.log.Warn("finding the account of cordon's credentials failed", "error", err, "retry_in", d)
		if wait.Sleep(ctx, d) != nil {
			return "", ctx.Err()
		}
	}
}

// poll polls every detector of a region.
func (p *gdPoller) poll(ctx context.Context, region string) error {
	client := p.env.AWS.GuardDuty(p.account, region)
	var detectors []string
	pages := guardduty.NewListDetectorsPaginator(client, &guardduty.ListDetectorsInput{MaxResults: aws.Int32(guarddutyPageSize)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing detectors: %w", err)
		}
		detectors = append(detectors, out.DetectorIds...)
	}
	if len(detectors) == 0 {
		p.log.Debug("no GuardDuty detector", "region", region)
	}
	var errs []error
	for _, d := range detectors {
		if err := p.pollDetector(ctx, client, region, d); err != nil {
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("detector %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// pollDetector hands the sink the findings of a detector updated since
// its cursor, a page at a time, each page with the cursor it moves to.
func (p *gdPoller) pollDetector(ctx context.Context, client *guardduty.Client, region, detector string) error {
	name := p.env.Name + "/" + p.account + "/" + region + "/" + detector
	start := p.now()
	// Everything updated before horizon is listed by this poll.
	horizon := start.Add(-guarddutySettle).UnixMilli()
	since := start.Add(-p.s.lookback).UnixMilli()
	v, ok, err := p.env.Sink.Cursor(ctx, name)
	if err != nil {
		return &sinkError{err}
	}
	if ok {
		ms, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || ms < 0 {
			p.log.Warn("the stored cursor is not epoch milliseconds; looking back from now instead", "cursor", name, "lookback", p.s.lookback)
		} else {
			since = ms
		}
	}
	// gte, not gt: findings updated at the very millisecond of the cursor
	// are listed again, so that one updated in that millisecond after the
	// cursor was taken is not missed; the copies already recorded are
	// dropped by the sink as duplicates.
	in := &guardduty.ListFindingsInput{
		DetectorId: aws.String(detector),
		FindingCriteria: &gdtypes.FindingCriteria{Criterion: map[string]gdtypes.Condition{
			"updatedAt": {GreaterThanOrEqual: aws.Int64(since)},
			// An archived finding was dismissed (by hand or by a
			// suppression rule): there is nothing to respond to.
			"service.archived": {Equals: []string{"false"}},
		}},
		SortCriteria: &gdtypes.SortCriteria{AttributeName: aws.String("updatedAt"), OrderBy: gdtypes.OrderByAsc},
		MaxResults:   aws.Int32(guarddutyPageSize),
	}
	pages := guardduty.NewListFindingsPaginator(client, in)
	total, dups := 0, 0
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing findings: %w", err)
		}
		last := !pages.HasMorePages()
		if len(out.FindingIds) == 0 {
			if last {
				// Nothing new: the cursor still moves, so that a restart
				// after a long stop starts here and not lookback ago.
				if err := p.moveCursor(ctx, name, since, horizon); err != nil {
					return err
				}
			}
			continue
		}
		body, err := getFindingsRaw(ctx, client, detector, out.FindingIds)
		if err != nil {
			return fmt.Errorf("getting findings: %w", err)
		}
		findings, newest, err := splitFindings(body, horizon)
		if err != nil {
			return fmt.Errorf("reading the GetFindings response: %w", err)
		}
		// The listing is oldest first, so once this page is handed over,
		// so is everything updated before its newest finding; and once
		// the last page is, everything before the horizon. Only updates
		// before the horizon count: one after it may be a finding
		// updated since it was listed, and the next pages may hold
		// findings older than that update.
		cursor := max(newest, since)
		if last {
			cursor = max(horizon, since)
		}
		n, d, err := p.hand(ctx, name, body, findings, cursor)
		if err != nil {
			return err
		}
		total += n
		dups += d
	}
	p.log.Info("polled GuardDuty", "region", region, "detector", detector, "findings", total, "duplicates", dups)
	return nil
}

// moveCursor records a cursor alone, when it moves.
func (p *gdPoller) moveCursor(ctx context.Context, name string, since, to int64) error {
	if to <= since {
		return nil
	}
	if _, err := p.env.Sink.Accept(ctx, Batch{Source: p.env.Name, Cursor: &Cursor{Name: name, Value: strconv.FormatInt(to, 10)}}); err != nil {
		return &sinkError{err}
	}
	return nil
}

// hand gives the sink one page. A page the sink rejects is handed again
// a finding at a time, so that one finding it cannot read does not cost
// the others; then the cursor moves past them all, rejected ones
// included (they are recorded as rejections), as an SQS source deletes a
// rejected message.
func (p *gdPoller) hand(ctx context.Context, name string, body []byte, findings []json.RawMessage, cursor int64) (n, dups int, err error) {
	c := &Cursor{Name: name, Value: strconv.FormatInt(cursor, 10)}
	rec, err := p.env.Sink.Accept(ctx, Batch{Source: p.env.Name, Data: body, Cursor: c})
	var rej *RejectedError
	switch {
	case err == nil:
		for _, d := range rec.Deliveries {
			if d.Duplicate {
				dups++
			}
		}
		return len(rec.Deliveries), dups, nil
	case !errors.As(err, &rej):
		return 0, 0, &sinkError{err}
	}
	p.log.Warn("a page of GuardDuty findings was rejected; handing its findings one at a time", "cursor", name, "findings", len(findings), "rejection", rej.ID)
	for _, f := range findings {
		one := append(append([]byte(`{"findings":[`), f...), ']', '}')
		rec, err := p.env.Sink.Accept(ctx, Batch{Source: p.env.Name, Data: one})
		switch {
		case errors.As(err, &rej):
			p.log.Warn("GuardDuty finding rejected", "cursor", name, "size", len(f), "rejection", rej.ID)
		case err != nil:
			return n, dups, &sinkError{err}
		default:
			n += len(rec.Deliveries)
			for _, d := range rec.Deliveries {
				if d.Duplicate {
					dups++
				}
			}
		}
	}
	if _, err := p.env.Sink.Accept(ctx, Batch{Source: p.env.Name, Cursor: c}); err != nil {
		return n, dups, &sinkError{err}
	}
	return n, dups, nil
}

// getFindingsRaw calls GetFindings and returns its response body as
// GuardDuty sent it: the findings in GuardDuty's own JSON (camelCase, as
// EventBridge also carries them), which the SDK's types would turn into
// Go's field names if marshalled again.
func getFindingsRaw(ctx context.Context, client *guardduty.Client, detector string, ids []string) ([]byte, error) {
	capture := &rawBody{limit: guarddutyMaxBody}
	_, err := client.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: aws.String(detector), FindingIds: ids},
		func(o *guardduty.Options) {
			o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
				// At the end of the deserialize step: next to the
				// transport, before the SDK's deserializer reads the body.
				return st.Deserialize.Add(capture, middleware.After)
			})
		})
	if err != nil {
		return nil, err
	}
	if capture.body == nil {
		return nil, errors.New("the response body was not captured")
	}
	return capture.body, nil
}

// rawBody is a deserialize middleware keeping a copy of a successful
// response's body, bounded by limit, and handing the SDK's deserializer
// the same bytes. Each attempt of a retried call replaces the copy; error
// responses are left to the SDK.
type rawBody struct {
	limit int64
	body  []byte
}

func (*rawBody) ID() string { return "cordon.RawResponseBody" }

func (c *rawBody) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, md, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.limit+1))
	resp.Body.Close()
	if err != nil {
		return out, md, fmt.Errorf("reading the response: %w", err)
	}
	if int64(len(b)) > c.limit {
		return out, md, fmt.Errorf("the response is larger than %d MiB", c.limit>>20)
	}
	c.body = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return out, md, nil
}

// splitFindings reads a GetFindings response: its findings, and the
// newest updatedAt among them before horizon, in epoch milliseconds (0
// when there is none).
func splitFindings(body []byte, horizon int64) ([]json.RawMessage, int64, error) {
	var resp struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, 0, err
	}
	newest := int64(0)
	for _, f := range resp.Findings {
		var head struct {
			UpdatedAt string `json:"updatedAt"`
		}
		if json.Unmarshal(f, &head) != nil {
			continue // the sink rejects it, naming why
		}
		t, err := time.Parse(time.RFC3339Nano, head.UpdatedAt)
		if err != nil {
			continue
		}
		if ms := t.UnixMilli(); ms < horizon {
			newest = max(newest, ms)
		}
	}
	return resp.Findings, newest, nil
}
