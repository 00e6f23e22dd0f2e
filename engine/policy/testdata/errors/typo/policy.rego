package cordon.verdict

default verdict := "inconclusive"

verdict := "malicious" if {
	input.finding.severty == "high"
}
