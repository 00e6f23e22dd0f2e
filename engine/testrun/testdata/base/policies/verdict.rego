# A miner running is malicious; a finding rated medium or above without
# one is suspicious; anything else is benign.
package fixture.verdict

miners := {"xmrig", "minerd"}

miner_running if {
	some p in input.facts.triage.processes
	p.name in miners
}

default verdict := "benign"

verdict := "malicious" if miner_running

verdict := "suspicious" if {
	not miner_running
	input.finding.severity in {"medium", "high", "critical"}
}

confidence := 0.95 if miner_running

confidence := 0.5 if not miner_running

reasons contains sprintf("triage: %s is running (pid %d)", [p.name, p.pid]) if {
	some p in input.facts.triage.processes
	p.name in miners
}

reasons contains sprintf("GuardDuty rates the finding %s", [input.finding.severity])
