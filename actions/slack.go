package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// slack posts the incident summary to a Slack incoming webhook. The URL is
// the credential, so it is shown redacted and never logged.
//
// Slack's incoming webhooks take no idempotency key (a header or a field
// Slack would use to drop a copy), so a message whose delivery a crash made
// unknown, which cordon sends again (see webhook), may show twice in the
// channel. A notification about the same incident and finding update is
// otherwise posted once.
type slack struct {
	url      string
	channel  string
	retry    delivery
	shownURL string // as webhook's
}

func init() {
	Register(&Definition{
		Type:       "slack",
		Summary:    "Post the incident summary to a Slack incoming webhook",
		Phase:      Notify,
		Reversible: false,
		Attributes: hcldec.ObjectSpec{
			"url":     &hcldec.AttrSpec{Name: "url", Type: cty.String, Required: true},
			"channel": &hcldec.AttrSpec{Name: "channel", Type: cty.String},
		},
		SensitiveAttributes: []string{"url"},
		New: func(cfg cty.Value) (Action, error) {
			shown := shownURL(cfg)
			cfg, _ = cfg.UnmarkDeep()
			a := slack{url: attrString(cfg, "url"), channel: attrString(cfg, "channel"), retry: newDelivery(10 * time.Second), shownURL: shown}
			if err := checkURL("url", a.url); err != nil {
				return nil, err
			}
			return a, nil
		},
	})
}

func (a slack) Describe(req *Request) Change {
	after := map[string]any{"post": a.shownURL, "incident": req.IncidentID}
	if a.channel != "" {
		after["channel"] = a.channel
	}
	return Change{Before: map[string]any{}, After: after}
}

// Permissions: Slack calls no AWS API.
func (slack) Permissions() []string { return nil }

// NotConfigured: a slack without a URL is declared but not usable yet.
func (a slack) NotConfigured() (attribute, reason string) { return urlNotSet(a.url) }

// Read has nothing to read: a notification changes nothing in the cloud.
func (slack) Read(context.Context, *Env, *Request) (map[string]any, error) {
	return map[string]any{}, nil
}

// slackMessage is an incoming-webhook payload.
type slackMessage struct {
	Text    string `json:"text"`
	Channel string `json:"channel,omitempty"`
	// Links in findings (domains, URLs of evidence) are not to be fetched
	// by Slack's unfurler.
	UnfurlLinks bool `json:"unfurl_links"`
	UnfurlMedia bool `json:"unfurl_media"`
}

func (a slack) Apply(ctx context.Context, env *Env, req *Request, _ map[string]any) (map[string]any, bool, error) {
	body, err := json.Marshal(slackMessage{Text: slackText(incidentSummary(env, req)), Channel: a.channel})
	if err != nil {
		return nil, false, fmt.Errorf("encoding the Slack message: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "cordon/"+Version)
	status, err := a.retry.send(ctx, env, &notification{kind: "slack", url: a.url, shown: a.shownURL, header: h, body: body, errorDetail: slackErrorCode})
	if err != nil {
		return nil, false, err
	}
	after := map[string]any{"post": a.shownURL, "incident": req.IncidentID, "status": status}
	if a.channel != "" {
		after["channel"] = a.channel
	}
	return after, true, nil
}

// slackCode is the shape of the error codes Slack answers a failed post
// with ("invalid_payload", "channel_not_found", "no_service"). A body of
// any other shape is not shown: it could echo what was sent.
var slackErrorCodeRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

func slackErrorCode(body []byte) string {
	if s := strings.TrimSpace(string(body)); slackErrorCodeRE.MatchString(s) {
		return s
	}
	return ""
}

// Limits keeping a message readable (and far below Slack's 40,000
// characters).
const (
	slackMaxActions  = 20
	slackMaxErrorLen = 300
)

// slackText renders the summary as mrkdwn: the verdict first, then the
// finding and its resource, the summary line, and each action's result.
//
//	:rotating_light: *cordon* incident `inc-…`: *malicious* (ec2_compromise, confidence 0.90)
//	Finding `Backdoor:EC2/C&amp;CActivity.B!DNS` (high) on `aws_instance` `i-…` in 111122223333 us-east-1
//	Command and Control server domain name queried by EC2 instance i-….
//	Actions:
//	• `action.isolate["i-…"]`: applied
//	• `action.stop["i-…"]`: failed: …
func slackText(s *IncidentSummary) string {
	var b strings.Builder
	b.WriteString(":rotating_light: *cordon* incident `" + slackInline(s.IncidentID) + "`: ")
	if len(s.Verdicts) == 0 {
		b.WriteString("no verdict")
	}
	for i, v := range s.Verdicts {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("*" + slackEscape(v.Verdict) + "* (" + slackEscape(v.Rule))
		if v.Confidence != nil {
			b.WriteString(", confidence " + strconv.FormatFloat(*v.Confidence, 'f', 2, 64))
		}
		b.WriteString(")")
	}
	f := s.Finding
	fmt.Fprintf(&b, "\nFinding `%s` (%s) on `%s` `%s`",
		slackInline(f.Type), slackEscape(f.Severity), slackInline(f.Resource.Type), slackInline(f.Resource.ID))
	if where := strings.TrimSpace(f.Account + " " + f.Region); where != "" {
		b.WriteString(" in " + slackEscape(where))
	}
	line := s.Summary
	if line == "" {
		line = f.Title
	}
	if line != "" {
		b.WriteString("\n" + slackEscape(clipText(line, slackMaxErrorLen)))
	}
	if ap := s.Approval; ap != nil {
		fmt.Fprintf(&b, "\n:hourglass: Plan `%s` waits for approval until %s: %s\nApprove: `%s`\nReject: `%s`",
			slackInline(ap.PlanID), slackEscape(ap.ExpiresAt), slackEscape(clipText(ap.Reason, slackMaxErrorLen)),
			slackInline(ap.Approve), slackInline(ap.Reject))
	}
	if len(s.Actions) > 0 {
		b.WriteString("\nActions:")
		for i, a := range s.Actions {
			if i == slackMaxActions {
				fmt.Fprintf(&b, "\n… and %d more", len(s.Actions)-slackMaxActions)
				break
			}
			b.WriteString("\n• `" + slackInline(a.Address) + "`: " + slackEscape(a.Result))
			if a.Error != "" {
				b.WriteString(": " + slackEscape(clipText(a.Error, slackMaxErrorLen)))
			}
		}
	}
	return b.String()
}

// slackEscaper escapes the three characters mrkdwn reserves for its own
// markup (links, mentions): &, < and >.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// slackInline escapes a value shown in `code`, where a backtick would end
// the span early.
func slackInline(s string) string { return strings.ReplaceAll(slackEscape(s), "`", "'") }

// clipText shortens s to at most n bytes, on a rune boundary, marking the
// cut with an ellipsis.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
