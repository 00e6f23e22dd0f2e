package cordon.verdict

high_fidelity := {"Backdoor", "CryptoCurrency", "Trojan"}

family := split(input.finding.type, ":")[0]

verdict := "malicious" if {
	family in high_fidelity
	input.finding.severity in {"high", "critical"}
}

verdict := "suspicious" if {
	not family in high_fidelity
}

verdict := "suspicious" if {
	family in high_fidelity
	not input.finding.severity in {"high", "critical"}
}

confidence := 0.9 if verdict == "malicious"

reasons contains sprintf("GuardDuty reported %s at %s severity", [input.finding.type, input.finding.severity])

reasons contains "the instance is running" if input.facts.describe.state == "running"
