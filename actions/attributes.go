package actions

import (
	"fmt"
	"net/url"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Helpers reading decoded block attributes. The hcldec spec has already
// checked presence and types, so these only handle null (absent optional).

func attrString(cfg cty.Value, name string) string {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return ""
	}
	return v.AsString()
}

func attrBool(cfg cty.Value, name string) bool {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return false
	}
	return v.True()
}

func attrStringMap(cfg cty.Value, name string) map[string]string {
	v := cfg.GetAttr(name)
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if !e.IsNull() {
			out[k] = e.AsString()
		}
	}
	return out
}

// attrDuration parses a Go/Terraform-style duration ("30s", "3m").
func attrDuration(cfg cty.Value, name string, def time.Duration) (time.Duration, error) {
	s := attrString(cfg, name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, &AttributeError{Attribute: name, Summary: "Invalid duration",
			Detail: fmt.Sprintf("%q is not a duration like \"30s\" or \"5m\".", s)}
	}
	return d, nil
}

// checkURL accepts absolute http(s) URLs only, and the empty string: a
// notification whose URL is not set yet is Unconfigured, not invalid.
func checkURL(attr, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &AttributeError{Attribute: attr, Summary: "Invalid URL",
			Detail: "The URL must be an absolute http:// or https:// URL; it is malformed."}
	}
	return nil
}

// shownURL is how an action shows the URL of its configuration's url
// attribute: SensitiveValue when it comes from a sensitive variable (the
// attribute is marked), else redacted (redactURL).
func shownURL(cfg cty.Value) string {
	v := cfg.GetAttr("url")
	if raw, _ := v.UnmarkDeep(); raw.IsKnown() && !raw.IsNull() && raw.AsString() == "" {
		return notSet
	}
	if v.ContainsMarked() {
		return SensitiveValue
	}
	if v.IsNull() || !v.IsKnown() {
		return redactURL("")
	}
	return redactURL(v.AsString())
}

// redactURL shows only scheme and host: webhook URLs (Slack's above all)
// carry their credential in the path.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	if u.Path == "" || u.Path == "/" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// notSet is how a URL not set yet is shown.
const notSet = "(not set)"

// urlNotSet is NotConfigured of the notification types: their url is
// empty until its variable is set.
func urlNotSet(u string) (attribute, reason string) {
	if u != "" {
		return "", ""
	}
	return "url", "its url is empty"
}
