package cordon.attack_sequence.verdict_test

import data.cordon.attack_sequence.verdict

key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2REPORTER", "tags": {}, "details": {"access_key_id": "AKIAXQ4G7NF2REPORTER"}}

bucket := {"type": "aws_s3_bucket", "id": "acme-finance-exports", "tags": {}, "details": {"name": "acme-finance-exports"}}

eni := {"type": "aws_network_interface", "id": "eni-0a1b2c3d", "tags": {}, "details": {}}

signal(name) := {"uid": name, "type": "FINDING", "name": name, "severity": 5, "count": 1}

sequence := {
	"uid": "2d4f6b8d0f2b4d6f",
	"description": "A sequence of actions involving 3 signals indicating a possible credential compromise was observed for IAMUser/reporting.\nmore detail",
	"signals": [
		signal("Discovery:IAMUser/AnomalousBehavior"),
		signal("Stealth:IAMUser/CloudTrailLoggingDisabled"),
		signal("Exfiltration:S3/AnomalousBehavior"),
	],
	"sequenceIndicators": [
		{"key": "ATTACK_TACTIC", "values": ["Discovery", "Exfiltration", "Defense Evasion"], "title": "MITRE ATT&CK tactics"},
		{"key": "HIGH_RISK_API", "values": ["cloudtrail:StopLogging", "s3:GetObject", ""]},
	],
}

finding(severity, resources, seq) := {
	"id": "8c258d654378414b9bc26f61a93eb816",
	"source": "guardduty",
	"type": "AttackSequence:IAM/CompromisedCredentials",
	"title": "Potential credential compromise of IAMUser/reporting indicated by a sequence of actions.",
	"severity": severity,
	"severity_score": 9,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": resources[0],
	"resources": resources,
	"raw": {
		"schemaVersion": "2.0",
		"type": "AttackSequence:IAM/CompromisedCredentials",
		"resource": {"resourceType": "AttackSequence"},
		"service": {"serviceName": "guardduty", "featureName": "Correlation", "detection": {"sequence": seq}},
	},
}

make_input(f) := {
	"finding": f,
	"resource": f.resource,
	"facts": {},
	"scope": {"name": "iam_principals"},
	"rule": {"name": "attack_sequence", "actions": ["disable_key", "notify"]},
}

test_a_critical_sequence_is_malicious if {
	v := verdict with input as make_input(finding("critical", [key, bucket], sequence))
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty Extended Threat Detection correlated 3 signal(s) into one attack: Discovery:IAMUser/AnomalousBehavior, Exfiltration:S3/AnomalousBehavior, Stealth:IAMUser/CloudTrailLoggingDisabled" in v.reasons
	"GuardDuty: A sequence of actions involving 3 signals indicating a possible credential compromise was observed for IAMUser/reporting." in v.reasons
	"indicator MITRE ATT&CK tactics: Defense Evasion, Discovery, Exfiltration" in v.reasons
	"indicator high risk api: cloudtrail:StopLogging, s3:GetObject" in v.reasons
	"the sequence names access key AKIAXQ4G7NF2REPORTER, bucket acme-finance-exports" in v.reasons
	v.root_cause == "an attacker is acting through access key AKIAXQ4G7NF2REPORTER, bucket acme-finance-exports (3 correlated signals)"
	v.summary == concat("", ["Attack sequence AttackSequence:IAM/CompromisedCredentials: ", v.root_cause, "."])
	startswith(v.impact, "everything access key AKIAXQ4G7NF2REPORTER, bucket acme-finance-exports can reach")
}

test_many_signals_are_counted if {
	many := object.union(sequence, {"signals": [signal(sprintf("Signal%02d", [i])) | some i in numbers.range(1, 12)]})
	v := verdict with input as make_input(finding("critical", [key], many))
	"GuardDuty Extended Threat Detection correlated 12 signal(s) into one attack: Signal01, Signal02, Signal03, Signal04, Signal05, Signal06, Signal07, Signal08, Signal09, Signal10 and 2 more" in v.reasons
}

test_pascal_and_asff_spellings if {
	pascal := json.patch(finding("high", [key], {}), [
		{"op": "remove", "path": "/raw/service"},
		{"op": "add", "path": "/raw/Service", "value": {"Detection": {"Sequence": {"Description": "Pascal.", "Signals": [{"Name": "A"}], "SequenceIndicators": [{"Key": "TOR_IP", "Values": ["198.51.100.5"]}]}}}},
	])
	v := verdict with input as make_input(pascal)
	v.verdict == "malicious"
	v.confidence == 0.8
	"GuardDuty: Pascal." in v.reasons
	"indicator tor ip: 198.51.100.5" in v.reasons
	asff := {
		"ProductArn": "arn:aws:securityhub:us-west-2::product/aws/guardduty",
		"Detection": {"Sequence": {"Description": "ASFF.", "Signals": [{"Name": "B"}, {"Name": "C"}], "SequenceIndicators": []}},
	}
	from_hub := object.union(finding("critical", [key], {}), {"source": "securityhub", "raw": asff})
	w := verdict with input as make_input(from_hub)
	"GuardDuty: ASFF." in w.reasons
	w.confidence == 0.9
}

test_a_sequence_without_signals_or_resources if {
	bare := json.patch(finding("critical", [{"type": "", "id": "", "tags": {}, "details": {}}], {}), [{"op": "remove", "path": "/raw/service"}])
	v := verdict with input as make_input(bare)
	v.verdict == "malicious"
	v.confidence == 0.8
	"GuardDuty rated the sequence critical (9 of 10) without naming its signals" in v.reasons
	v.root_cause == "an attacker is acting in account 123456789012 (0 correlated signals)"
	not v.impact
}

test_a_sequence_below_high_is_suspicious if {
	v := verdict with input as make_input(finding("medium", [eni, bucket], sequence))
	v.verdict == "suspicious"
	v.confidence == 0.6
	v.root_cause == "undetermined: the sequence is below high severity and needs a responder"
	"the sequence names aws_network_interface eni-0a1b2c3d, bucket acme-finance-exports" in v.reasons
}

test_sample_findings_are_noted if {
	f := object.union(finding("critical", [key], sequence), {"sample": true})
	v := verdict with input as make_input(f)
	"GuardDuty marked this finding as a generated sample" in v.reasons
}
