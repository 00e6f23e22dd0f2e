package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/cordonhq/cordon/schema"
)

// findingData is the normalized finding state kept (schema.Finding as
// JSON) with the times the report needs, read once.
type findingData struct {
	schema.Finding
	CreatedAt, UpdatedAt time.Time
	FirstSeen, LastSeen  time.Time
	// product names the detector when the source says (Security Hub's
	// ProductName, OCSF's metadata.product.name): the product's own word.
	product string
	// productArn is Security Hub's ProductArn (OCSF's metadata.product.uid),
	// which Security Hub sets: who the product is.
	productArn string
}

// decodeFinding reads the normalized finding; nil when state has none or
// it is unreadable (the report then works from the finding summary).
func decodeFinding(raw json.RawMessage) *findingData {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	f := &findingData{}
	if err := json.Unmarshal(raw, &f.Finding); err != nil {
		return nil
	}
	f.CreatedAt, _ = parseTime(f.Finding.CreatedAt)
	f.UpdatedAt, _ = parseTime(f.Finding.UpdatedAt)
	f.readRaw()
	return f
}

// rawTimes are the places detectors put an activity's first and last
// sighting. GuardDuty's API answers in camelCase, boto3 and its exports in
// PascalCase; EventBridge wraps either in detail. Security Hub (ASFF) has
// FirstObservedAt and LastObservedAt; OCSF has finding_info.first_seen_time
// (epoch milliseconds) and its _dt twin.
type rawTimes struct {
	Service       *rawService `json:"service"`
	ServicePascal *rawService `json:"Service"`
	Detail        *rawTimes   `json:"detail"`

	FirstObservedAt any `json:"FirstObservedAt"`
	LastObservedAt  any `json:"LastObservedAt"`
	ProductName     any `json:"ProductName"`
	ProductArn      any `json:"ProductArn"`

	FindingInfo *struct {
		FirstSeenTimeDT any `json:"first_seen_time_dt"`
		FirstSeenTime   any `json:"first_seen_time"`
		LastSeenTimeDT  any `json:"last_seen_time_dt"`
		LastSeenTime    any `json:"last_seen_time"`
	} `json:"finding_info"`
	Metadata *struct {
		Product *struct {
			Name any `json:"name"`
			UID  any `json:"uid"`
		} `json:"product"`
	} `json:"metadata"`
}

// rawService is GuardDuty's service block; encoding/json matches keys
// case-insensitively, so eventFirstSeen and EventFirstSeen both land here.
type rawService struct {
	EventFirstSeen any `json:"eventFirstSeen"`
	EventLastSeen  any `json:"eventLastSeen"`
}

func (f *findingData) readRaw() {
	if len(f.Raw) == 0 {
		return
	}
	var r rawTimes
	if json.Unmarshal(f.Raw, &r) != nil {
		return
	}
	if r.Service == nil && r.ServicePascal == nil && r.Detail != nil {
		r = *r.Detail
	}
	svc := r.Service
	if svc == nil {
		svc = r.ServicePascal
	}
	switch {
	case svc != nil:
		f.FirstSeen, _ = parseTime(svc.EventFirstSeen)
		f.LastSeen, _ = parseTime(svc.EventLastSeen)
	case r.FirstObservedAt != nil || r.LastObservedAt != nil:
		f.FirstSeen, _ = parseTime(r.FirstObservedAt)
		f.LastSeen, _ = parseTime(r.LastObservedAt)
	case r.FindingInfo != nil:
		fi := r.FindingInfo
		var ok bool
		if f.FirstSeen, ok = parseTime(fi.FirstSeenTimeDT); !ok {
			f.FirstSeen, _ = parseTime(fi.FirstSeenTime)
		}
		if f.LastSeen, ok = parseTime(fi.LastSeenTimeDT); !ok {
			f.LastSeen, _ = parseTime(fi.LastSeenTime)
		}
	}
	if s, ok := r.ProductName.(string); ok {
		f.product = clean(s, 60)
	} else if r.Metadata != nil && r.Metadata.Product != nil {
		if s, ok := r.Metadata.Product.Name.(string); ok {
			f.product = clean(s, 60)
		}
	}
	if s, ok := r.ProductArn.(string); ok {
		f.productArn = s
	} else if r.Metadata != nil && r.Metadata.Product != nil {
		f.productArn, _ = r.Metadata.Product.UID.(string)
	}
}

// detector names who reported the finding. GuardDuty is named only for a
// finding proven to be GuardDuty's (schema's FromGuardDuty: read from
// GuardDuty, or AWS's own GuardDuty product ARN). Any product importing
// findings into Security Hub may call itself GuardDuty in ProductName; such
// a finding is shown under the product its ARN names, so a forgery never
// reads as GuardDuty's in a report or on a timeline.
func (f *findingData) detector() string {
	if f.Source == schema.SourceGuardDuty || f.FromGuardDuty() {
		return "GuardDuty"
	}
	name := f.product
	if namesGuardDuty(name) {
		if p := productOfArn(f.productArn); p != "" {
			return "Security Hub product " + p
		}
		return "An unverified product (named " + name + ")"
	}
	switch {
	case name != "" && f.Source == schema.SourceSecurityHub:
		return name + " (via Security Hub)"
	case name != "":
		return name
	case f.Source == schema.SourceSecurityHub:
		if p := productOfArn(f.productArn); p != "" {
			return "Security Hub product " + p
		}
		return "Security Hub"
	}
	return "The detector"
}

// namesGuardDuty reports whether a product's own name would read as
// GuardDuty's ("GuardDuty", "Amazon Guard Duty"), whatever its case and
// spacing.
func namesGuardDuty(name string) bool {
	squeezed := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, name)
	return strings.Contains(squeezed, "guardduty")
}

// productOfArn is the company/product part of a Security Hub product ARN,
// arn:<partition>:securityhub:<region>:<account>:product/<company>/<product>
// ("444455556666/default" for a custom integration, "aws/inspector"), or
// "" for anything else.
func productOfArn(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "securityhub" {
		return ""
	}
	for _, prefix := range []string{"product/", "productv2/"} {
		if p, ok := strings.CutPrefix(parts[5], prefix); ok && p != "" {
			return clean(p, 60)
		}
	}
	return ""
}

// window is the finding's activity window: first to last seen, else
// created to updated.
func (f *findingData) window() (time.Time, time.Time) {
	if !f.FirstSeen.IsZero() {
		end := f.LastSeen
		if end.IsZero() {
			end = f.FirstSeen
		}
		return f.FirstSeen, end
	}
	end := f.UpdatedAt
	if end.IsZero() {
		end = f.CreatedAt
	}
	return f.CreatedAt, end
}
