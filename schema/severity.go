package schema

// Severity labels in increasing order (docs/findings.md).
const (
	SeverityInformational = "informational"
	SeverityLow           = "low"
	SeverityMedium        = "medium"
	SeverityHigh          = "high"
	SeverityCritical      = "critical"
)

// Severities lists the labels from least to most severe.
var Severities = []string{SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// SeverityRank returns the position of label in Severities (0 for
// informational … 4 for critical) and whether label is one of them.
func SeverityRank(label string) (int, bool) {
	for i, s := range Severities {
		if s == label {
			return i, true
		}
	}
	return 0, false
}

// GuardDutySeverity maps GuardDuty's numeric severity to a label:
// 1.0–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10 critical. Below 1 is
// informational (GuardDuty does not emit it, but a score of 0 must map
// somewhere).
func GuardDutySeverity(score float64) string {
	switch {
	case score >= 9:
		return SeverityCritical
	case score >= 7:
		return SeverityHigh
	case score >= 4:
		return SeverityMedium
	case score >= 1:
		return SeverityLow
	default:
		return SeverityInformational
	}
}
