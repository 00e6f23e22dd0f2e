package test.verdict

# malicious at high severity and above, suspicious at medium, benign below.

verdict := "malicious" if input.finding.severity in {"high", "critical"}

verdict := "suspicious" if input.finding.severity == "medium"

verdict := "benign" if input.finding.severity in {"informational", "low"}

confidence := 0.9 if verdict == "malicious"

confidence := 0.6 if verdict != "malicious"

reasons contains sprintf("%s finding %s", [input.finding.severity, input.finding.type])

reasons contains "the instance is described" if input.facts.describe.instance_id

root_cause := sprintf("GuardDuty reported %s", [input.finding.type])
