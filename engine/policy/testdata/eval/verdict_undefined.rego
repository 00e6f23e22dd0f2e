package verdict.undefined

verdict := "malicious" if input.finding.severity == "critical"
