package cordon.lambda.verdict_test

import data.cordon.lambda.verdict

fn := {
	"type": "aws_lambda_function",
	"id": "invoice-renderer",
	"arn": "arn:aws:lambda:us-west-2:123456789012:function:invoice-renderer",
	"tags": {},
	"details": {
		"function_name": "invoice-renderer",
		"runtime": "nodejs20.x",
		"role": "arn:aws:iam::123456789012:role/invoice-renderer",
		"last_modified_at": "2025-03-13T22:41:07Z",
	},
}

service := {"serviceName": "guardduty", "featureName": "LambdaNetworkLogs", "resourceRole": "ACTOR"}

threat_service := object.union(service, {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Mirai"]}]}})

finding(type, severity, network, svc) := {
	"id": "c0ffee5a7e1d4b2c9a8f6e4d2c0b9a87",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding.", [type]),
	"severity": severity,
	"severity_score": 8,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": fn,
	"resources": [fn],
	"network": network,
	"raw": {"schemaVersion": "2.0", "type": type, "service": svc},
}

outbound := {"direction": "OUTBOUND", "protocol": "TCP", "remote_ip": "203.0.113.45", "remote_port": 443}

make_input(f) := {
	"finding": f,
	"resource": f.resource,
	"facts": {},
	"scope": {"name": "lambda_functions"},
	"rule": {"name": "lambda_threat", "actions": ["notify"]},
}

test_command_and_control_on_a_threat_list if {
	v := verdict with input as make_input(finding("Backdoor:Lambda/C&CActivity.B", "high", outbound, threat_service))
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: the function contacted a known command-and-control server (address 203.0.113.45:443)" in v.reasons
	"GuardDuty: address 203.0.113.45:443 is on threat list ProofPoint (Mirai)" in v.reasons
	"function invoice-renderer: runtime nodejs20.x, execution role arn:aws:iam::123456789012:role/invoice-renderer, last changed 2025-03-13T22:41:07Z" in v.reasons
	v.root_cause == "code in the function contacted a known command-and-control server"
	v.summary == "Lambda function invoice-renderer is compromised: code in the function contacted a known command-and-control server."
	v.impact == "the code runs with the permissions of execution role arn:aws:iam::123456789012:role/invoice-renderer, whose credentials it can read and send out; every invocation runs it again, until the function is stopped or its code replaced"
}

test_a_threat_list_alone if {
	f := finding("UnauthorizedAccess:Lambda/MaliciousIPCaller.Custom", "medium", {"remote_ip": "203.0.113.45"}, threat_service)
	v := verdict with input as make_input(f)
	v.verdict == "malicious"
	v.confidence == 0.8
	v.root_cause == "code in the function talks to address 203.0.113.45, which is on threat list ProofPoint"
}

test_mining_below_high_is_suspicious if {
	f := finding("CryptoCurrency:Lambda/BitcoinTool.B", "medium", {"domain": "xmr.pool.example"}, service)
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	v.confidence == 0.6
	"GuardDuty: the function is communicating with a cryptocurrency mining pool or the Bitcoin network (domain xmr.pool.example), at medium severity" in v.reasons
	v.root_cause == "undetermined: the evidence does not show how the function was changed"
}

test_tor_and_unlisted_callers_are_suspicious if {
	tor := verdict with input as make_input(finding("UnauthorizedAccess:Lambda/TorClient", "high", outbound, service))
	tor.verdict == "suspicious"
	"GuardDuty: the function talks to the Tor network (address 203.0.113.45:443): GuardDuty UnauthorizedAccess:Lambda/TorClient finding" in tor.reasons
	unlisted := verdict with input as make_input(finding("UnauthorizedAccess:Lambda/MaliciousIPCaller.Custom", "medium", outbound, service))
	"GuardDuty: the function talks to address 203.0.113.45:443, an address GuardDuty considers malicious, but the finding names no threat list" in unlisted.reasons
}

test_other_findings if {
	high := verdict with input as make_input(finding("Impact:Lambda/SomethingNew", "high", null, service))
	high.verdict == "suspicious"
	"GuardDuty: GuardDuty Impact:Lambda/SomethingNew finding (Impact:Lambda/SomethingNew, high severity)" in high.reasons
	f := json.patch(finding("Impact:Lambda/SomethingNew", "medium", null, service), [
		{"op": "replace", "path": "/resource/details", "value": {}},
		{"op": "replace", "path": "/title", "value": ""},
	])
	v := verdict with input as make_input(f)
	v.verdict == "inconclusive"
	v.confidence == 0.5
	v.reasons == {"GuardDuty reported Impact:Lambda/SomethingNew at medium severity, but the finding does not say enough to judge it"}
	v.summary == "Impact:Lambda/SomethingNew on Lambda function invoice-renderer could be neither confirmed nor explained; a responder should review it."
	not v.impact
}

test_a_high_fidelity_family_without_a_description if {
	f := object.union(finding("Trojan:Lambda/SomethingNew", "high", null, service), {"resource": object.union(fn, {"details": {"role": ""}})})
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	"GuardDuty: GuardDuty Trojan:Lambda/SomethingNew finding (Trojan:Lambda/SomethingNew, high severity)" in v.reasons
	v.impact == "every invocation runs it again, until the function is stopped or its code replaced"
	v.indicator == "an unknown remote end"
}

test_sample_findings_are_noted if {
	f := object.union(finding("Backdoor:Lambda/C&CActivity.B", "high", outbound, service), {"sample": true})
	v := verdict with input as make_input(f)
	"GuardDuty marked this finding as a generated sample" in v.reasons
}
