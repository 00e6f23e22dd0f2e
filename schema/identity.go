package schema

import (
	"strconv"
	"strings"
)

// Product identity (the contract's "Incident identity"): an incident is the
// producing product's finding, whichever route it came by. GuardDuty's
// finding is the same whether read from GetFindings or EventBridge, from
// Security Hub as ASFF, or as OCSF, and GuardDuty re-publishes an
// aggregated finding with the same id, a higher count and a newer
// updatedAt: none of that may make another incident. So the key is built
// from the product and its finding id only, never from the route, the
// update time or the count.
//
// The product is trusted only from what proves it: a Security Hub
// finding's ProductArn is set by Security Hub, and only AWS's own GuardDuty
// integration carries arn:<partition>:securityhub:<region>::product/aws/guardduty
// (a custom integration's is …:<account>:product/<account>/default, and
// BatchImportFindings refuses a ProductArn the caller may not use).
// ProductName, CompanyName, "aws/guardduty/…" ProductFields and a
// GuardDuty-shaped Id are the importer's own words and prove nothing: such a
// finding is its real product's, keyed and read as that product's.

// ProductKey returns what identifies the producing product's finding: for
// GuardDuty, GuardDuty's finding id in its account and region (native,
// ASFF and OCSF forms give the same key); for any other product, the
// product, the account and the product's finding id. It never depends on
// updated_at or count. It is "" for a finding without an id, which has no
// identity beyond its content. The key is opaque: compare it, do not parse
// it.
func (f *Finding) ProductKey() string {
	if f.productKey != "" || f.ID == "" {
		return f.productKey
	}
	// A finding that did not come from a parser (decoded from a plan
	// file, built by hand): derive the key from its raw finding the same
	// way, without caching it, so concurrent readers do not race.
	m, _ := f.decoded.(map[string]any)
	if m == nil && len(f.Raw) > 0 {
		v, _ := decodeJSON(f.Raw)
		m, _ = v.(map[string]any)
	}
	return productKey(f, m)
}

// FromGuardDuty reports whether the finding is proven to be GuardDuty's:
// a native GuardDuty finding, or a Security Hub or OCSF finding whose
// product is AWS's own GuardDuty integration.
func (f *Finding) FromGuardDuty() bool {
	return strings.HasPrefix(f.ProductKey(), guardDutyKeyPrefix)
}

// guardDutyKeyPrefix starts every GuardDuty key: joinKey quotes each part.
var guardDutyKeyPrefix = strconv.Quote("guardduty") + " "

// productKey derives the key of f, whose decoded raw finding is m.
func productKey(f *Finding, m map[string]any) string {
	if f.ID == "" {
		return ""
	}
	switch f.Source {
	case SourceGuardDuty:
		// The finding's own account and region, as the ASFF and OCSF
		// forms carry them (AwsAccountId, cloud.account.uid): the ARN's
		// are the detector's, not always the finding's.
		return guardDutyKey(firstNonEmpty(f.Account, arnField(str(m, "arn"), 4)), f.Region, f.ID)
	case SourceSecurityHub:
		productArn := str(m, "ProductArn")
		if isGuardDutyProductArn(productArn, false) {
			if id, account, ok := guardDutyFindingArn(f.ID); ok {
				return guardDutyKey(firstNonEmpty(f.Account, account), f.Region, id)
			}
		}
		if productArn != "" {
			return joinKey("product", productArn, f.Account, f.ID)
		}
		// ProductArn is required; without it, the names are all there is.
		return joinKey("product-name", str(m, "CompanyName"), str(m, "ProductName"), f.Account, f.ID)
	case SourceOCSF:
		p := pathObj(m, "metadata", "product")
		uid := str(p, "uid")
		if isGuardDutyProductArn(uid, true) {
			if id, account, ok := guardDutyFindingArn(f.ID); ok {
				return guardDutyKey(firstNonEmpty(f.Account, account), f.Region, id)
			}
		}
		if uid != "" {
			// Mapped from Security Hub, uid is the ASFF ProductArn and
			// finding_info.uid its Id: the same key as the ASFF form.
			return joinKey("product", uid, f.Account, f.ID)
		}
		return joinKey("product-name", str(p, "vendor_name"), str(p, "name"), f.Account, f.ID)
	}
	return joinKey("product", f.Source, f.Account, f.ID)
}

func guardDutyKey(account, region, id string) string {
	return joinKey("guardduty", account, region, id)
}

// joinKey joins the parts of a key, each quoted, so no choice of values
// (an id holding a separator) makes two different findings' keys equal.
func joinKey(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Quote(p))
	}
	return b.String()
}

// isGuardDutyProductArn reports whether arn is exactly AWS's own GuardDuty
// integration in Security Hub: arn:<partition>:securityhub:<region>::product/aws/guardduty,
// with a known partition and a region of that partition, and no account.
// v2 also accepts Security Hub's OCSF product ARN, …::productv2/aws/guardduty.
func isGuardDutyProductArn(arn string, v2 bool) bool {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return false
	}
	partition, rest, _ := strings.Cut(rest, ":")
	rest, ok = strings.CutPrefix(rest, "securityhub:")
	if !ok {
		return false
	}
	region, resource, ok := strings.Cut(rest, "::")
	if !ok || !isRegion(partition, region) {
		return false
	}
	return resource == "product/aws/guardduty" || v2 && resource == "productv2/aws/guardduty"
}

// isRegion reports whether region has the shape of a region of partition:
// lowercase words joined by dashes ending in a number ("us-east-1",
// "ap-southeast-7", "us-gov-west-1"), with China's regions only in aws-cn
// and GovCloud's only in aws-us-gov.
func isRegion(partition, region string) bool {
	words := strings.Split(region, "-")
	if len(words) < 3 {
		return false
	}
	for _, w := range words[:len(words)-1] {
		if !isLower(w) {
			return false
		}
	}
	if n := words[len(words)-1]; n == "" || len(n) > 2 || strings.Trim(n, "0123456789") != "" {
		return false
	}
	cn, gov := words[0] == "cn", words[0] == "us" && words[1] == "gov"
	switch partition {
	case "aws":
		return !cn && !gov
	case "aws-cn":
		return cn
	case "aws-us-gov":
		return gov
	}
	return false
}

func isLower(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// guardDutyFindingArn splits a GuardDuty finding ARN,
// arn:<partition>:guardduty:<region>:<account>:detector/<detector>/finding/<id>,
// into the finding id and the account.
func guardDutyFindingArn(arn string) (id, account string, ok bool) {
	if arnField(arn, 2) != "guardduty" {
		return "", "", false
	}
	detector, found := strings.CutPrefix(arnField(arn, 5), "detector/")
	if !found {
		return "", "", false
	}
	detector, id, found = strings.Cut(detector, "/finding/")
	if !found || detector == "" || id == "" || strings.Contains(detector, "/") || strings.Contains(id, "/") {
		return "", "", false
	}
	return id, arnField(arn, 4), true
}
