package cordon.verdict

verdict := "malicious" if input.finding.sevrity == "high"
