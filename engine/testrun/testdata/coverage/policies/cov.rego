package cov.verdict

verdict := "malicious" if {
	input.finding.severity == "high"
}

verdict := "benign" if {
	input.finding.severity == "low"
}

confidence := 0.9 if {
	input.finding.severity == "high"
	input.finding.count > 1
}

reasons contains "never tested" if {
	input.finding.count > 100
}
