# A realistic verdict package: helper rules over the finding, its raw
# GuardDuty document and the facts, the way the starter policies look.
package cordon.ec2.verdict

backdoor if startswith(input.finding.type, "Backdoor:EC2/")

cryptomining if startswith(input.finding.type, "CryptoCurrency:EC2/")

severe if input.finding.severity in {"high", "critical"}

threat_names contains name if {
	some detail in input.finding.raw.Service.Evidence.ThreatIntelligenceDetails
	some name in detail.ThreatNames
}

dns_domain := input.finding.raw.Service.Action.DnsRequestAction.Domain

public if input.resource.details.public_ip

running if input.facts.describe.state == "running"

repeated if input.finding.count > 1

default verdict := "inconclusive"

verdict := "malicious" if {
	backdoor
	severe
	count(threat_names) > 0
} else := "suspicious" if {
	backdoor
}

verdict := "malicious" if cryptomining

confidence := 0.9 if verdict == "malicious"

confidence := 0.5 if verdict != "malicious"

reasons contains sprintf("%s finding of %s severity", [input.finding.type, input.finding.severity]) if backdoor

reasons contains sprintf("threat intelligence lists %s", [name]) if some name in threat_names

reasons contains sprintf("queried %s", [dns_domain]) if dns_domain

reasons contains "instance has a public IP address" if public

reasons contains "instance is running" if running

reasons contains sprintf("seen %d times", [input.finding.count]) if repeated

summary := sprintf("%s on %s", [input.finding.type, input.resource.id])

root_cause := "instance contacted a command and control server" if backdoor

impact := "possible remote control of the instance" if {
	backdoor
	public
}
