package cordon.verdict

default verdict := "inconclusive"

recent if {
	time.now_ns() - time.parse_rfc3339_ns(input.finding.updated_at) < 3600000000000
}

verdict := "malicious" if recent
