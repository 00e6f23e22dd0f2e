package cordon.attack_sequence.response_test

import data.cordon.attack_sequence.response

key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2REPORTER", "tags": {}, "details": {}}

session_key := {"type": "aws_iam_access_key", "id": "ASIAXQ4G7NF2SESSION9", "tags": {}, "details": {}}

reporting := {"type": "aws_iam_user", "id": "reporting", "tags": {}, "details": {}}

bucket := {"type": "aws_s3_bucket", "id": "acme-finance-exports", "tags": {}, "details": {}}

web1 := {"type": "aws_instance", "id": "i-0a1b2c3d4e5f67890", "tags": {}, "details": {}}

web2 := {"type": "aws_instance", "id": "i-0b2c3d4e5f6789012", "tags": {}, "details": {}}

all_actions := ["protect", "isolate", "snapshot", "disable_key", "deny_all", "notify"]

make_input(resources, v, allowed) := {
	"finding": {
		"id": "8c258d654378414b9bc26f61a93eb816",
		"source": "guardduty",
		"type": "AttackSequence:IAM/CompromisedCredentials",
		"severity": "critical",
		"severity_score": 9,
		"count": 1,
		"resource": resources[0],
		"resources": resources,
		"raw": {},
	},
	"resource": resources[0],
	"facts": {},
	"scope": {"name": "iam_principals"},
	"rule": {"name": "attack_sequence", "actions": allowed},
	"verdict": {"verdict": v, "confidence": 0.9, "reasons": [], "summary": "Attack sequence: an attacker is acting."},
}

pairs(acts) := {[a.action, a.target] | some a in acts}

test_keys_and_principals_are_contained if {
	acts := response.actions with input as make_input([key, reporting, bucket], "malicious", all_actions)
	pairs(acts) == {["disable_key", "AKIAXQ4G7NF2REPORTER"], ["deny_all", "reporting"], ["notify", "AKIAXQ4G7NF2REPORTER"]}
	some a in acts
	a.action == "notify"
	a.reason == "malicious (confidence 0.90): Attack sequence: an attacker is acting. [not contained, no action for it: aws_s3_bucket acme-finance-exports]"
}

test_instances_are_kept_and_cut_off if {
	acts := response.actions with input as make_input([web1, web2], "malicious", all_actions)
	pairs(acts) == {
		["protect", "i-0a1b2c3d4e5f67890"], ["isolate", "i-0a1b2c3d4e5f67890"], ["snapshot", "i-0a1b2c3d4e5f67890"],
		["protect", "i-0b2c3d4e5f6789012"], ["isolate", "i-0b2c3d4e5f6789012"], ["snapshot", "i-0b2c3d4e5f6789012"],
		["notify", "i-0a1b2c3d4e5f67890"],
	}
	not "stop" in {a.action | some a in acts}
}

test_a_temporary_key_is_left_to_a_human if {
	x := json.patch(make_input([session_key], "malicious", all_actions), [{"op": "remove", "path": "/verdict/summary"}])
	acts := response.actions with input as x
	acts == {{
		"action": "notify",
		"target": "ASIAXQ4G7NF2SESSION9",
		"reason": "malicious (confidence 0.90): AttackSequence:IAM/CompromisedCredentials on ASIAXQ4G7NF2SESSION9. [key ASIAXQ4G7NF2SESSION9 not disabled: it is temporary; revoke the sessions of the role that issued it]",
	}}
}

test_suspicion_only_notifies if {
	acts := response.actions with input as make_input([key, web1], "suspicious", all_actions)
	pairs(acts) == {["notify", "AKIAXQ4G7NF2REPORTER"]}
}

test_benign_and_disallowed_do_nothing if {
	count(response.actions) == 0 with input as make_input([key], "benign", all_actions)
	count(response.actions) == 0 with input as make_input([key, web1], "malicious", [])
}
