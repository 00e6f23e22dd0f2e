package cordon.verdict

verdict := "malicious" if {
	input.finding.severity == "high"
	count(input.finding.resources) >
}
