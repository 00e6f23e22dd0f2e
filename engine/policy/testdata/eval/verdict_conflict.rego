package verdict.conflict

verdict := "malicious" if input.finding.count > 0

verdict := "benign" if input.finding.severity == "high"
