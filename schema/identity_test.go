package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One GuardDuty finding in its three forms, from the samples: GuardDuty's
// own, Security Hub's ASFF copy and the OCSF mapping of that copy.
const (
	gdNativeFile = "cordon_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json"
	gdASFFFile   = "securityhub_asff_from_guardduty_Stealth_IAMUser_CloudTrailLoggingDisabled.json"
	gdOCSFFile   = "ocsf_2004_detection_finding_from_securityhub_guardduty_CloudTrailLoggingDisabled.json"

	gdFindingID  = "a6c556fcbc9bea427a19f8b787099a0b"
	gdFindingArn = "arn:aws:guardduty:us-east-2:111111111111:detector/1ac1bfceda6679698215d5d0EXAMPLE/finding/" + gdFindingID
)

// sample decodes a sample finding file into a map the test may change.
func sample(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(findingsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// set assigns v at the path of nested object keys in m, making objects on
// the way; a nil v deletes the key.
func set(m map[string]any, v any, keys ...string) map[string]any {
	node := m
	for _, k := range keys[:len(keys)-1] {
		child, ok := node[k].(map[string]any)
		if !ok {
			child = map[string]any{}
			node[k] = child
		}
		node = child
	}
	if v == nil {
		delete(node, keys[len(keys)-1])
	} else {
		node[keys[len(keys)-1]] = v
	}
	return m
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseOne parses in, which must hold exactly one finding.
func parseOne(t *testing.T, in string) *Finding {
	t.Helper()
	fs := mustParse(t, in)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	return fs[0]
}

// TestProductKeyOneGuardDutyFinding: every form and route of one GuardDuty
// finding, and its re-publications, have one key.
func TestProductKeyOneGuardDutyFinding(t *testing.T) {
	native := func() map[string]any { return sample(t, gdNativeFile) }
	asff := func() map[string]any { return sample(t, gdASFFFile) }
	ocsf := func() map[string]any { return sample(t, gdOCSFFile) }

	want := parseOne(t, encode(t, native())).ProductKey()
	if want == "" || !strings.Contains(want, gdFindingID) || strings.Contains(want, "2023-") {
		t.Fatalf("native key = %q: want GuardDuty's finding id and no update time", want)
	}

	tests := []struct {
		name   string
		in     string
		source string
	}{
		{"GetFindings response", encode(t, map[string]any{"Findings": []any{native()}}), SourceGuardDuty},
		{"EventBridge GuardDuty Finding event", encode(t, map[string]any{
			"version": "0", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
			"account": "111111111111", "region": "us-east-2", "detail": native()}), SourceGuardDuty},
		{"EventBridge event, region only on the envelope", encode(t, map[string]any{
			"detail-type": "GuardDuty Finding", "region": "us-east-2", "detail": set(native(), nil, "region")}), SourceGuardDuty},
		{"native without arn", encode(t, set(native(), nil, "arn")), SourceGuardDuty},
		{"native without id: the arn's", encode(t, set(native(), nil, "id")), SourceGuardDuty},
		{"native re-published: higher count, newer updatedAt", encode(t,
			set(set(native(), json.Number("42"), "service", "count"), "2023-09-20T08:00:00.000Z", "updatedAt")), SourceGuardDuty},
		{"ASFF", encode(t, asff()), SourceSecurityHub},
		{"ASFF in a Security Hub Findings - Imported event", encode(t, map[string]any{
			"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
			"detail": map[string]any{"findings": []any{asff()}}}), SourceSecurityHub},
		{"ASFF re-published", encode(t, set(set(asff(), "42", "ProductFields", "aws/guardduty/service/count"),
			"2023-09-20T08:00:00.000Z", "UpdatedAt")), SourceSecurityHub},
		{"OCSF mapped from Security Hub", encode(t, ocsf()), SourceOCSF},
		{"OCSF from Security Hub's OCSF findings (productv2)", encode(t,
			set(set(ocsf(), "arn:aws:securityhub:us-east-2::productv2/aws/guardduty", "metadata", "product", "uid"),
				json.Number("264"), "count")), SourceOCSF},
		{"OCSF re-published", encode(t, set(ocsf(), "2023-09-20T08:00:00.000Z", "finding_info", "modified_time_dt")), SourceOCSF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseOne(t, tt.in)
			checkInvariants(t, f)
			if f.Source != tt.source {
				t.Errorf("source = %q, want %q", f.Source, tt.source)
			}
			if got := f.ProductKey(); got != want {
				t.Errorf("key = %q, want %q", got, want)
			}
			if !f.FromGuardDuty() {
				t.Error("FromGuardDuty() = false")
			}
			if f.Type != "Stealth:IAMUser/CloudTrailLoggingDisabled" {
				t.Errorf("type = %q, want GuardDuty's", f.Type)
			}
		})
	}
}

// TestProductKeyDistinct: different findings have different keys, and a
// product other than GuardDuty is identified by its own product, account
// and id, also across routes.
func TestProductKeyDistinct(t *testing.T) {
	native := func() map[string]any { return sample(t, gdNativeFile) }
	genuine := parseOne(t, encode(t, native())).ProductKey()
	tests := []struct {
		name string
		in   string
	}{
		{"same id in GovCloud, through Security Hub", encode(t, set(set(set(sample(t, gdASFFFile),
			"arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/guardduty", "ProductArn"),
			"arn:aws-us-gov:guardduty:us-gov-west-1:111111111111:detector/d/finding/"+gdFindingID, "Id"),
			"us-gov-west-1", "Region"))},
		{"another finding id", encode(t, set(set(native(), "b6c556fcbc9bea427a19f8b787099a0b", "id"), nil, "arn"))},
		{"same id, another account", encode(t, set(set(native(), "222222222222", "accountId"), nil, "arn"))},
		{"same id, another region", encode(t, set(set(native(), "eu-west-1", "region"), nil, "arn"))},
		{"the same id from another product", strings.Replace(asffMin, `"Id":"sh1"`, `"Id":"`+gdFindingID+`"`, 1)},
	}
	seen := map[string]string{genuine: "the genuine finding"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := parseOne(t, tt.in).ProductKey()
			if key == "" {
				t.Fatal("no key")
			}
			if other, dup := seen[key]; dup {
				t.Errorf("key %q is also %s's", key, other)
			}
			seen[key] = tt.name
		})
	}

	// A Security Hub control finding and its OCSF mapping: one product
	// (the ProductArn, metadata.product.uid), one account, one id.
	asff := parseOne(t, encode(t, sample(t, "securityhub_asff_control_finding_raw_paired_with_ocsf_2001_rc2.json")))
	ocsf := parseOne(t, encode(t, sample(t, "ocsf_2001_security_finding_from_securityhub_asff_rc2.json")))
	if asff.ProductKey() == "" || asff.ProductKey() != ocsf.ProductKey() {
		t.Errorf("control finding: ASFF key %q, OCSF key %q, want one", asff.ProductKey(), ocsf.ProductKey())
	}
	if asff.FromGuardDuty() || ocsf.FromGuardDuty() {
		t.Error("a Security Hub control finding is GuardDuty's")
	}

	// No id: no identity beyond the content.
	f := parseOne(t, encode(t, set(set(native(), nil, "id"), nil, "arn")))
	if f.ID != "" || f.ProductKey() != "" {
		t.Errorf("finding without id: id %q, key %q", f.ID, f.ProductKey())
	}
}

// TestForgedGuardDuty: a finding that only says it is GuardDuty's (a custom
// product's BatchImportFindings with GuardDuty's names, fields and id, an
// OCSF producer naming GuardDuty) is read as its real product's: its
// source stays, GuardDuty's type mapping and count do not apply, and its key
// is its product's, never the genuine finding's.
func TestForgedGuardDuty(t *testing.T) {
	asff := func() map[string]any {
		// Every GuardDuty claim a custom product can make, and a count
		// GuardDuty's reading would take.
		return set(sample(t, gdASFFFile), "9", "ProductFields", "aws/guardduty/service/count")
	}
	ocsf := func() map[string]any { return sample(t, gdOCSFFile) }
	genuine := parseOne(t, encode(t, sample(t, gdASFFFile)))
	if !genuine.FromGuardDuty() {
		t.Fatal("the genuine ASFF finding is not GuardDuty's")
	}
	const asffType = "TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled"

	tests := []struct {
		name   string
		in     map[string]any
		source string
	}{
		{"custom product, ProductName GuardDuty, CompanyName Amazon",
			set(asff(), "arn:aws:securityhub:us-east-2:999999999999:product/999999999999/default", "ProductArn"), SourceSecurityHub},
		{"custom product whose ARN ends in /aws/guardduty",
			set(asff(), "arn:aws:securityhub:us-east-2:999999999999:product/999999999999/default/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"GuardDuty's ARN with an account",
			set(asff(), "arn:aws:securityhub:us-east-2:999999999999:product/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"another company's guardduty",
			set(asff(), "arn:aws:securityhub:us-east-2::product/999999999999/guardduty", "ProductArn"), SourceSecurityHub},
		{"not securityhub", set(asff(), "arn:aws:guardduty:us-east-2::product/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"unknown partition", set(asff(), "arn:aws-evil:securityhub:us-east-2::product/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"no region", set(asff(), "arn:aws:securityhub:::product/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"region not a region", set(asff(), "arn:aws:securityhub:guardduty::product/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"China region in the aws partition", set(asff(), "arn:aws:securityhub:cn-north-1::product/aws/guardduty", "ProductArn"), SourceSecurityHub},
		{"more after guardduty", set(asff(), "arn:aws:securityhub:us-east-2::product/aws/guardduty/x", "ProductArn"), SourceSecurityHub},
		{"other case", set(asff(), "arn:aws:securityhub:us-east-2::product/aws/GuardDuty", "ProductArn"), SourceSecurityHub},
		{"no ProductArn", set(asff(), nil, "ProductArn"), SourceSecurityHub},
		{"OCSF: product named GuardDuty by a custom product",
			set(ocsf(), "arn:aws:securityhub:us-east-2:999999999999:product/999999999999/default", "metadata", "product", "uid"), SourceOCSF},
		{"OCSF: product named GuardDuty, no uid", set(ocsf(), nil, "metadata", "product", "uid"), SourceOCSF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseOne(t, encode(t, tt.in))
			checkInvariants(t, f)
			if f.Source != tt.source || f.FromGuardDuty() {
				t.Errorf("source %q, FromGuardDuty %v: want %q and not GuardDuty's", f.Source, f.FromGuardDuty(), tt.source)
			}
			if f.Type != asffType {
				t.Errorf("type = %q, want the product's own %q", f.Type, asffType)
			}
			if f.Count != 1 {
				t.Errorf("count = %d: GuardDuty's ProductFields were read", f.Count)
			}
			if f.ID != gdFindingArn {
				t.Errorf("id = %q", f.ID)
			}
			// The custom product's own key: the same for its ASFF and
			// OCSF forms, never the genuine finding's.
			if key := f.ProductKey(); key == "" || key == genuine.ProductKey() {
				t.Errorf("key %q: want the product's own", key)
			}
		})
	}
}

func TestIsGuardDutyProductArn(t *testing.T) {
	tests := []struct {
		arn    string
		v1, v2 bool
	}{
		{"arn:aws:securityhub:us-east-2::product/aws/guardduty", true, true},
		{"arn:aws:securityhub:ap-southeast-7::product/aws/guardduty", true, true},
		{"arn:aws:securityhub:il-central-1::product/aws/guardduty", true, true},
		{"arn:aws-cn:securityhub:cn-north-1::product/aws/guardduty", true, true},
		{"arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/guardduty", true, true},
		{"arn:aws:securityhub:us-east-1::productv2/aws/guardduty", false, true},
		{"arn:aws-cn:securityhub:us-east-1::product/aws/guardduty", false, false},
		{"arn:aws-us-gov:securityhub:us-east-1::product/aws/guardduty", false, false},
		{"arn:aws:securityhub:us-gov-west-1::product/aws/guardduty", false, false},
		{"arn:aws:securityhub:US-EAST-1::product/aws/guardduty", false, false},
		{"arn:aws:securityhub:us-east-123::product/aws/guardduty", false, false},
		{"arn:aws:securityhub:us-east::product/aws/guardduty", false, false},
		{"arn:aws:securityhub:us-east-1:111122223333:product/aws/guardduty", false, false},
		{"arn:aws:securityhub:us-east-1::product/aws/guardduty ", false, false},
		{"arn:aws:securityhub:us-east-1::product/aws/securityhub", false, false},
		{"arn:aws:securityhub:us-east-1::product/aws/guardduty\x00", false, false},
		{"arn:aws:securityhub:us-east-1::", false, false},
		{"aws/guardduty", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := isGuardDutyProductArn(tt.arn, false); got != tt.v1 {
			t.Errorf("isGuardDutyProductArn(%q, false) = %v", tt.arn, got)
		}
		if got := isGuardDutyProductArn(tt.arn, true); got != tt.v2 {
			t.Errorf("isGuardDutyProductArn(%q, true) = %v", tt.arn, got)
		}
	}
}

func TestGuardDutyFindingArn(t *testing.T) {
	tests := []struct {
		arn, id, account string
		ok               bool
	}{
		{gdFindingArn, gdFindingID, "111111111111", true},
		{"arn:aws-cn:guardduty:cn-north-1:1:detector/d/finding/f", "f", "1", true},
		{"arn:aws:guardduty:us-east-2:1:detector/d/finding/", "", "", false},
		{"arn:aws:guardduty:us-east-2:1:detector//finding/f", "", "", false},
		{"arn:aws:guardduty:us-east-2:1:detector/d/finding/f/g", "", "", false},
		{"arn:aws:guardduty:us-east-2:1:detector/d", "", "", false},
		{"arn:aws:securityhub:us-east-2:1:detector/d/finding/f", "", "", false},
		{gdFindingID, "", "", false},
	}
	for _, tt := range tests {
		id, account, ok := guardDutyFindingArn(tt.arn)
		if id != tt.id || account != tt.account || ok != tt.ok {
			t.Errorf("guardDutyFindingArn(%q) = %q, %q, %v", tt.arn, id, account, ok)
		}
	}
}

// TestProductKeyWithoutParser: a finding read back from JSON (a plan file)
// has the key the parser gave it.
func TestProductKeyWithoutParser(t *testing.T) {
	for _, name := range []string{gdNativeFile, gdASFFFile, gdOCSFFile, "cordon_mixed_array.json", "cordon_stream.ndjson"} {
		data, err := os.ReadFile(filepath.Join(findingsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		fs, err := Parse(name, data)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range fs {
			b, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			var back Finding
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.ProductKey() != f.ProductKey() || back.FromGuardDuty() != f.FromGuardDuty() {
				t.Errorf("%s[%d]: key %q after JSON, %q from the parser", name, i, back.ProductKey(), f.ProductKey())
			}
		}
	}
}

// joinKey must not let a separator inside one part fake another split.
func TestJoinKeyUnambiguous(t *testing.T) {
	if joinKey("a b", "c") == joinKey("a", "b c") || joinKey(`a" "b`) == joinKey("a", "b") {
		t.Error("joinKey is ambiguous")
	}
}
