package cordon.verdict

default verdict := "inconclusive"

verdict := "malicious" if {
	input.finding.severity == "high"
	input.facts.describe.state == "running"
	input.finding.raw.Service.Count > 1
}
