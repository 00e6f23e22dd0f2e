package actions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// webhook posts the incident summary as JSON to a URL. With secret set, the
// body is signed (HMAC-SHA256 in X-Cordon-Signature) so the receiver can
// trust it; the secret itself is never sent or logged, and neither are the
// configured header values, which commonly carry tokens.
//
// The request, for receivers:
//
//	POST <url>
//	Content-Type: application/json
//	User-Agent: cordon/<version>
//	X-Cordon-Delivery: <32 hex digits: the notification's idempotency key>
//	X-Cordon-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with secret>   (with secret only)
//	<configured headers>
//
//	{"incident_id": "inc-…", "finding": {…}, "verdicts": […], "actions": […], "summary": "…"}
//
// As with GitHub's webhooks, a receiver verifies the signature by computing
// the HMAC of the body bytes exactly as received and comparing it to the
// header in constant time (hmac.Equal), before parsing the JSON.
//
// A receiver may see one notification more than once, and X-Cordon-Delivery
// is how it tells: a receiver that must not act twice keeps the keys it has
// handled (for a few days) and answers 2xx to a key it has seen, without
// acting again. The key is the same on
//   - every retry of one POST: a failed POST is retried on 5xx, 429,
//     timeouts and connection errors (4 attempts, exponential backoff), and
//     a timed-out attempt may have arrived;
//   - every send of the same notification: cordon records a notification as
//     delivered only once the receiver's 2xx is recorded, so one that a
//     crash interrupted is sent again, by the resumed apply or the incident's
//     next plan, and may be a copy of one the receiver got.
//
// The key is derived from the incident, the action's address and the
// finding's update (DeliveryKey): a recurrence of the finding (a newer
// update) is a new notification with a new key. The body of a copy may
// differ (what the apply had done when it was sent); the key does not.
type webhook struct {
	url     string
	headers map[string]string
	secret  string
	retry   delivery
	// shownURL is how the URL is shown: redacted to its scheme and host,
	// or SensitiveValue when it comes from a sensitive variable.
	shownURL string
}

func init() {
	Register(&Definition{
		Type:       "webhook",
		Summary:    "POST the incident summary as JSON to a URL",
		Phase:      Notify,
		Reversible: false,
		Attributes: hcldec.ObjectSpec{
			"url":     &hcldec.AttrSpec{Name: "url", Type: cty.String, Required: true},
			"headers": &hcldec.AttrSpec{Name: "headers", Type: cty.Map(cty.String)},
			"secret":  &hcldec.AttrSpec{Name: "secret", Type: cty.String},
			"timeout": &hcldec.AttrSpec{Name: "timeout", Type: cty.String},
		},
		SensitiveAttributes: []string{"headers", "secret", "url"},
		New: func(cfg cty.Value) (Action, error) {
			shown := shownURL(cfg)
			cfg, _ = cfg.UnmarkDeep()
			a := webhook{url: attrString(cfg, "url"), headers: attrStringMap(cfg, "headers"), secret: attrString(cfg, "secret"), shownURL: shown}
			if err := checkURL("url", a.url); err != nil {
				return nil, err
			}
			if err := checkHeaders("headers", a.headers); err != nil {
				return nil, err
			}
			t, err := attrDuration(cfg, "timeout", 10*time.Second)
			if err != nil {
				return nil, err
			}
			if t == 0 {
				return nil, &AttributeError{Attribute: "timeout", Summary: "Invalid duration",
					Detail: "The timeout of each attempt must be more than zero."}
			}
			a.retry = newDelivery(t)
			return a, nil
		},
	})
}

func (a webhook) Describe(req *Request) Change {
	return Change{
		Before: map[string]any{},
		After:  map[string]any{"post": a.shownURL, "incident": req.IncidentID},
	}
}

// Permissions: a webhook calls no AWS API.
func (webhook) Permissions() []string { return nil }

// NotConfigured: a webhook without a URL is declared but not usable yet.
func (a webhook) NotConfigured() (attribute, reason string) { return urlNotSet(a.url) }

// Read has nothing to read: a notification changes nothing in the cloud.
func (webhook) Read(context.Context, *Env, *Request) (map[string]any, error) {
	return map[string]any{}, nil
}

// Apply posts the summary. Every Apply sends it again: a notification is
// an event, not a state.
func (a webhook) Apply(ctx context.Context, env *Env, req *Request, _ map[string]any) (map[string]any, bool, error) {
	body, err := json.Marshal(incidentSummary(env, req))
	if err != nil {
		return nil, false, fmt.Errorf("encoding the incident summary: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "cordon/"+Version)
	secrets := make([]string, 0, len(a.headers)+1)
	for k, v := range a.headers {
		h.Set(k, v)
		secrets = append(secrets, v)
	}
	h.Set("X-Cordon-Delivery", deliveryKey(env))
	if a.secret != "" {
		h.Set("X-Cordon-Signature", signature(a.secret, body))
		secrets = append(secrets, a.secret)
	}
	status, err := a.retry.send(ctx, env, &notification{kind: "webhook", url: a.url, shown: a.shownURL, header: h, body: body, secrets: secrets})
	if err != nil {
		return nil, false, err
	}
	return map[string]any{"post": a.shownURL, "incident": req.IncidentID, "status": status}, true, nil
}

// signature is the X-Cordon-Signature value of a body: "sha256=" and the
// hex HMAC-SHA256 keyed with the secret.
func signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
