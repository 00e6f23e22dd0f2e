package verdict.evil_else

verdict := "malicious" if {
	input.finding.count > 100
} else := "evil"
