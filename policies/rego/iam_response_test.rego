package cordon.iam.response_test

import data.cordon.iam.response

key_resource(id, user_type, user_name) := {
	"type": "aws_iam_access_key",
	"id": id,
	"tags": {},
	"details": {"access_key_id": id, "principal_id": "AIDAXQ4G7NF2EXAMPLE", "user_name": user_name, "user_type": user_type},
}

user_key := key_resource("AKIAXQ4G7NF2CIDEPLOY", "IAMUser", "ci-deploy")

user := {"type": "aws_iam_user", "id": "ci-deploy", "tags": {}, "details": {}}

role_key := key_resource("ASIAXQ4G7NF2R5EXAMPL", "AssumedRole", "web-app-role")

role := {"type": "aws_iam_role", "id": "web-app-role", "tags": {}, "details": {}}

root_key := key_resource("AKIAXQ4G7NF2ROOTKEY1", "Root", "Root")

all_actions := ["disable_key", "deny_all", "notify"]

make_input(v, confidence, resources, allowed) := {
	"finding": {
		"id": "9d8c7b6a5f4e4d3c2b1a0f9e8d7c6b5a",
		"source": "guardduty",
		"type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
		"severity": "high",
		"severity_score": 8,
		"count": 1,
		"resource": resources[0],
		"resources": resources,
		"raw": {},
	},
	"resource": resources[0],
	"facts": {},
	"scope": {"name": "iam_principals"},
	"rule": {"name": "iam_credential_compromise", "actions": allowed},
	"verdict": {"verdict": v, "confidence": confidence, "reasons": ["…"], "summary": "The credentials of user ci-deploy are compromised."},
}

actions_of(x) := acts if {
	acts := response.actions with input as x
}

test_malicious_user_key_is_disabled_and_the_user_denied if {
	actions_of(make_input("malicious", 0.9, [user_key, user], all_actions)) == {
		{
			"action": "disable_key",
			"target": "AKIAXQ4G7NF2CIDEPLOY",
			"reason": "deactivate access key AKIAXQ4G7NF2CIDEPLOY (reversible): the attacker's copy stops working at once",
		},
		{
			"action": "deny_all",
			"target": "ci-deploy",
			"reason": "attach a deny-all policy to the user, so none of its other keys or console sessions can be used either",
		},
		{
			"action": "notify",
			"target": "AKIAXQ4G7NF2CIDEPLOY",
			"reason": "malicious (confidence 0.90): The credentials of user ci-deploy are compromised.",
		},
	}
}

test_temporary_keys_are_revoked_through_their_role if {
	acts := actions_of(make_input("malicious", 0.95, [role_key, role], all_actions))
	{a.action | some a in acts} == {"deny_all", "notify"}
	some deny in acts
	deny.action == "deny_all"
	deny.target == "web-app-role"
	startswith(deny.reason, "deny every session of the role issued before now")
	some notify in acts
	notify.action == "notify"
	endswith(notify.reason, "[key ASIAXQ4G7NF2R5EXAMPL not disabled: temporary STS credentials can only be revoked through their role]")
}

test_root_is_left_to_a_human if {
	acts := actions_of(make_input("malicious", 0.9, [root_key], all_actions))
	{a.action | some a in acts} == {"notify"}
	some a in acts
	endswith(a.reason, "[not contained: root credentials must be rotated by someone signed in as root]")
}

test_a_key_without_its_principal_is_still_disabled if {
	acts := actions_of(make_input("malicious", 0.9, [user_key], all_actions))
	{a.action | some a in acts} == {"disable_key", "notify"}
}

test_suspicion_only_notifies if {
	acts := actions_of(make_input("suspicious", 0.6, [user_key, user], all_actions))
	{a.action | some a in acts} == {"notify"}
	some a in acts
	a.reason == "suspicious (confidence 0.60): The credentials of user ci-deploy are compromised."
}

test_inconclusive_only_notifies if {
	{a.action | some a in actions_of(make_input("inconclusive", 0.5, [user_key, user], all_actions))} == {"notify"}
}

test_benign_does_nothing if {
	count(actions_of(make_input("benign", 0.9, [user_key, user], all_actions))) == 0
}

test_only_allowed_actions_are_chosen if {
	{a.action | some a in actions_of(make_input("malicious", 0.9, [user_key, user], ["deny_all"]))} == {"deny_all"}
	count(actions_of(make_input("malicious", 0.9, [user_key, user], []))) == 0
}

test_without_summary_or_confidence if {
	x := json.patch(make_input("suspicious", 0.6, [user_key, user], all_actions), [
		{"op": "remove", "path": "/verdict/summary"},
		{"op": "remove", "path": "/verdict/confidence"},
	])
	some a in actions_of(x)
	a.reason == "suspicious (confidence 0.00): UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS on AKIAXQ4G7NF2CIDEPLOY"
}
