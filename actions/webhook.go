package actions

import (
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// webhook posts the incident summary as JSON to a URL. With secret set, the
// body is signed (HMAC-SHA256 in X-Cordon-Signature) so the receiver can
// trust it; the secret itself is never sent or logged, and neither are the
// configured header values, which commonly carry tokens.
type webhook struct {
	url     string
	headers map[string]string
	secret  string
	timeout time.Duration
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
		New: func(cfg cty.Value) (Action, error) {
			a := webhook{url: attrString(cfg, "url"), headers: attrStringMap(cfg, "headers"), secret: attrString(cfg, "secret")}
			if err := checkURL("url", a.url); err != nil {
				return nil, err
			}
			t, err := attrDuration(cfg, "timeout", 10*time.Second)
			if err != nil {
				return nil, err
			}
			a.timeout = t
			return a, nil
		},
	})
}

func (a webhook) Describe(req *Request) Change {
	return Change{
		Before: map[string]any{},
		After:  map[string]any{"post": redactURL(a.url), "incident": req.IncidentID},
	}
}
