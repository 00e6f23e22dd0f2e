package report

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/cordonhq/cordon/schema"
)

// findingData is the normalized finding state kept (schema.Finding as
// JSON) with the times the report needs, read once.
type findingData struct {
	schema.Finding
	CreatedAt, UpdatedAt time.Time
	FirstSeen, LastSeen  time.Time
	// product names the detector when the source says (Security Hub's
	// ProductName, OCSF's metadata.product.name).
	product string
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

	FindingInfo *struct {
		FirstSeenTimeDT any `json:"first_seen_time_dt"`
		FirstSeenTime   any `json:"first_seen_time"`
		LastSeenTimeDT  any `json:"last_seen_time_dt"`
		LastSeenTime    any `json:"last_seen_time"`
	} `json:"finding_info"`
	Metadata *struct {
		Product *struct {
			Name any `json:"name"`
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
}

// detector names who reported the finding.
func (f *findingData) detector() string {
	switch {
	case f.Source == schema.SourceGuardDuty:
		return "GuardDuty"
	case f.product != "":
		return f.product
	case f.Source == schema.SourceSecurityHub:
		return "Security Hub"
	}
	return "The detector"
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
