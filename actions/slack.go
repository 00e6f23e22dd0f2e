package actions

import (
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// slack posts the incident summary to a Slack incoming webhook. The URL is
// the credential, so it is shown redacted and never logged.
type slack struct {
	url     string
	channel string
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
		New: func(cfg cty.Value) (Action, error) {
			a := slack{url: attrString(cfg, "url"), channel: attrString(cfg, "channel")}
			if err := checkURL("url", a.url); err != nil {
				return nil, err
			}
			return a, nil
		},
	})
}

func (a slack) Describe(req *Request) Change {
	after := map[string]any{"post": redactURL(a.url), "incident": req.IncidentID}
	if a.channel != "" {
		after["channel"] = a.channel
	}
	return Change{Before: map[string]any{}, After: after}
}
