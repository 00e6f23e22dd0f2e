package schema

import (
	"strings"
)

// Sample findings: GuardDuty's "Generate sample findings" (and
// CreateSampleFindings) writes findings of every type on made-up resources
// (i-99999999, GeneratedFindingUserName …) and marks each
// service.additionalInfo.sample = true. Acting on one would at best fail
// and at worst hit a real resource that happens to share a made-up name,
// so the contract lets no sample finding plan an action that changes
// anything unless its rule opts in.
//
// Where the mark is read, by form:
//   - GuardDuty: service.additionalInfo.sample (EventBridge and the console
//     export write it as a member), or inside service.additionalInfo.value,
//     the JSON text GetFindings and the SDKs return ({"…","sample":true}).
//   - Security Hub: the ASFF Sample attribute, or GuardDuty's own mark
//     flattened into ProductFields (aws/guardduty/service/additionalInfo/sample,
//     or within …/additionalInfo/value).
//   - OCSF: what Security Lake's mapping of ASFF keeps in unmapped
//     ("Sample", "ProductFields.aws/guardduty/service/additionalInfo/…"),
//     flat or nested.
//
// The mark is believed from any product, proven GuardDuty's or not: a
// claim to be a sample only holds cordon back, and only for that finding.

// sampleOf reports whether the finding of the given source, decoded as m,
// is marked as a sample, and where the mark is, for people to read
// ("service.additionalInfo.sample = true").
func sampleOf(source string, m map[string]any) (bool, string) {
	switch source {
	case SourceGuardDuty:
		return additionalInfoSample(obj(obj(m, "service"), "additionalInfo"), "service.additionalInfo")
	case SourceSecurityHub:
		if isTrue(m["Sample"]) {
			return true, "Sample = true"
		}
		return productFieldsSample(obj(m, "ProductFields"), "ProductFields ")
	case SourceOCSF:
		u := obj(m, "unmapped")
		if isTrue(u["Sample"]) {
			return true, "unmapped.Sample = true"
		}
		// Flattened by Security Lake ("ProductFields.aws/guardduty/…"),
		// or nested by other mappers.
		flat := map[string]any{}
		for k, v := range u {
			if rest, ok := strings.CutPrefix(k, "ProductFields."); ok {
				flat[rest] = v
			}
		}
		if ok, where := productFieldsSample(flat, "unmapped.ProductFields."); ok {
			return true, where
		}
		return productFieldsSample(obj(u, "ProductFields"), "unmapped.ProductFields.")
	}
	return false, ""
}

// additionalInfoSample reads GuardDuty's additionalInfo object, whose
// path is where.
func additionalInfoSample(info map[string]any, where string) (bool, string) {
	if info == nil {
		return false, ""
	}
	if isTrue(get(info, "sample")) {
		return true, where + ".sample = true"
	}
	if valueSample(get(info, "value")) {
		return true, where + ".value has \"sample\": true"
	}
	return false, ""
}

// productFieldsSample reads GuardDuty's additionalInfo as Security Hub
// flattens it into ProductFields (string values); prefix says where the
// fields are.
func productFieldsSample(pf map[string]any, prefix string) (bool, string) {
	const key = "aws/guardduty/service/additionalInfo/"
	if isTrue(pf[key+"sample"]) {
		return true, prefix + key + "sample = true"
	}
	if valueSample(pf[key+"value"]) {
		return true, prefix + key + "value has \"sample\": true"
	}
	return false, ""
}

// valueSample reads additionalInfo.value: JSON text of an object (or the
// object itself) with "sample": true.
func valueSample(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return isTrue(x["sample"])
	case string:
		s := strings.TrimSpace(x)
		if !strings.HasPrefix(s, "{") || !strings.Contains(s, "sample") {
			return false
		}
		d, err := decodeJSON([]byte(s))
		if err != nil {
			return false
		}
		m, _ := d.(map[string]any)
		return isTrue(m["sample"])
	}
	return false
}

// isTrue reads a boolean written as JSON true or as the text "true"
// (Security Hub's ProductFields and Security Lake's unmapped are strings).
func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(strings.TrimSpace(x), "true")
	}
	return false
}

// SampleMark says where the finding is marked as a sample finding
// ("service.additionalInfo.sample = true"), or "" when it is not one.
// Findings not made by a parser (decoded from a plan file) are read again
// from their raw finding.
func (f *Finding) SampleMark() string {
	if !f.Sample {
		return ""
	}
	if f.sampleMark != "" {
		return f.sampleMark
	}
	m, _ := f.decoded.(map[string]any)
	if m == nil && len(f.Raw) > 0 {
		v, _ := decodeJSON(f.Raw)
		m, _ = v.(map[string]any)
	}
	if _, where := sampleOf(f.Source, m); where != "" {
		return where
	}
	return "sample = true"
}

// SampleDescription describes a sample finding for people: "a GuardDuty
// sample finding (service.additionalInfo.sample = true)"; "" when it is
// not one.
func (f *Finding) SampleDescription() string {
	mark := f.SampleMark()
	if mark == "" {
		return ""
	}
	if f.Source == SourceGuardDuty || strings.Contains(mark, "aws/guardduty/") {
		return "a GuardDuty sample finding (" + mark + ")"
	}
	return "a sample finding (" + mark + ")"
}
