package cordon.verdict

verdict := "malicious"

confidence := 0.9

reasons contains sprintf("GuardDuty reported %s", [input.finding.type])
