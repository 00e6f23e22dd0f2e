package cordon.s3.response_test

import data.cordon.s3.response

bucket := {"type": "aws_s3_bucket", "id": "acme-prod-customer-exports", "tags": {}, "details": {}}

make_input(type, v, allowed) := {
	"finding": {
		"id": "6b5a4f3e2d1c40b9a8f7e6d5c4b3a291",
		"source": "guardduty",
		"type": type,
		"severity": "low",
		"severity_score": 2,
		"count": 1,
		"resource": bucket,
		"resources": [bucket],
		"raw": {},
	},
	"resource": bucket,
	"facts": {},
	"scope": {"name": "s3_buckets"},
	"rule": {"name": "s3_exposure", "actions": allowed},
	"verdict": {"verdict": v, "confidence": 0.6, "reasons": [], "summary": "Bucket acme-prod-customer-exports needs a responder."},
}

test_exposure_notifies_with_the_fix if {
	acts := response.actions with input as make_input("Policy:S3/BucketBlockPublicAccessDisabled", "suspicious", ["notify"])
	acts == {{
		"action": "notify",
		"target": "acme-prod-customer-exports",
		"reason": "suspicious (confidence 0.60): Bucket acme-prod-customer-exports needs a responder. Next: restore Block Public Access (aws s3api put-public-access-block --bucket acme-prod-customer-exports --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true) unless the exposure is intended, then tag the bucket cordon:public = \"true\".",
	}}
}

test_attacks_say_to_contain_the_caller if {
	acts := response.actions with input as make_input("Exfiltration:S3/MaliciousIPCaller", "malicious", ["notify"])
	some a in acts
	endswith(a.reason, "Next: disable the caller's access key and review the bucket's policy, ACLs and recent object changes (S3 data events, versioning).")
}

test_suspicious_access_says_to_ask_the_owner if {
	x := json.patch(make_input("PenTest:S3/KaliLinux", "suspicious", ["notify"]), [{"op": "remove", "path": "/verdict/summary"}])
	acts := response.actions with input as x
	some a in acts
	a.reason == "suspicious (confidence 0.60): PenTest:S3/KaliLinux on bucket acme-prod-customer-exports. Next: confirm with the caller's owner whether the access was expected; if not, disable their key and review the bucket's access."
}

test_benign_and_disallowed_do_nothing if {
	count(response.actions) == 0 with input as make_input("Policy:S3/BucketPublicAccessGranted", "benign", ["notify"])
	count(response.actions) == 0 with input as make_input("Policy:S3/BucketPublicAccessGranted", "suspicious", [])
}

test_inconclusive_notifies if {
	acts := response.actions with input as make_input("Stealth:S3/ServerAccessLoggingDisabled", "inconclusive", ["notify"])
	count(acts) == 1
}

# ---------------------------------------------------------------------------
# The caller's credentials

alice_key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2ALICEKEY", "tags": {}, "details": {"user_type": "IAMUser"}}

alice := {"type": "aws_iam_user", "id": "alice", "tags": {}, "details": {}}

session_key := {"type": "aws_iam_access_key", "id": "ASIAXQ4G7NF2SESSION1", "tags": {}, "details": {"user_type": "AssumedRole"}}

reporting_role := {"type": "aws_iam_role", "id": "reporting", "tags": {}, "details": {}}

with_resources(x, rs) := json.patch(x, [{"op": "replace", "path": "/finding/resources", "value": array.concat([bucket], rs)}])

all_actions := ["disable_key", "deny_all", "notify"]

test_malicious_caller_key_and_user_are_contained if {
	x := with_resources(make_input("Exfiltration:S3/MaliciousIPCaller", "malicious", all_actions), [alice_key, alice])
	acts := response.actions with input as x
	acts == {
		{
			"action": "disable_key",
			"target": "AKIAXQ4G7NF2ALICEKEY",
			"reason": "deactivate access key AKIAXQ4G7NF2ALICEKEY (reversible): the caller GuardDuty saw on bucket acme-prod-customer-exports uses it",
		},
		{
			"action": "deny_all",
			"target": "alice",
			"reason": "attach a deny-all policy to the user, so none of its other keys or console sessions can be used either",
		},
		{
			"action": "notify",
			"target": "acme-prod-customer-exports",
			"reason": "malicious (confidence 0.60): Bucket acme-prod-customer-exports needs a responder. Next: review the bucket's policy, ACLs and recent object changes (S3 data events, versioning); cordon contains key AKIAXQ4G7NF2ALICEKEY and user alice.",
		},
	}
}

test_a_session_key_is_contained_through_its_role if {
	x := with_resources(make_input("UnauthorizedAccess:S3/MaliciousIPCaller.Custom", "malicious", all_actions), [session_key, reporting_role])
	acts := response.actions with input as x
	{a.action | some a in acts} == {"deny_all", "notify"}
	some a in acts
	a.action == "deny_all"
	a.reason == "deny every session of the role issued before now: the stolen temporary credentials stop working, and legitimate holders get fresh ones"
}

test_suspicion_contains_nothing if {
	x := with_resources(make_input("UnauthorizedAccess:S3/TorIPCaller", "suspicious", all_actions), [alice_key, alice])
	acts := response.actions with input as x
	{a.action | some a in acts} == {"notify"}
}

test_containment_the_rule_does_not_allow_is_left_out if {
	x := with_resources(make_input("Exfiltration:S3/MaliciousIPCaller", "malicious", ["notify"]), [alice_key, alice])
	acts := response.actions with input as x
	some a in acts
	a.action == "notify"
	endswith(a.reason, "Next: disable the caller's access key and review the bucket's policy, ACLs and recent object changes (S3 data events, versioning).")
	count(acts) == 1
}
