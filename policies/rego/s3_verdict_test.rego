package cordon.s3.verdict_test

import data.cordon.s3.verdict

bucket_name := "acme-prod-customer-exports"

bucket(tags) := {
	"type": "aws_s3_bucket",
	"id": bucket_name,
	"arn": "arn:aws:s3:::acme-prod-customer-exports",
	"tags": tags,
	"details": {"name": bucket_name, "arn": "arn:aws:s3:::acme-prod-customer-exports"},
}

bucket_detail(permission) := {
	"arn": "arn:aws:s3:::acme-prod-customer-exports",
	"name": bucket_name,
	"type": "Destination",
	"publicAccess": {"effectivePermission": permission},
}

service(api, ip, error_code) := {
	"serviceName": "guardduty",
	"resourceRole": "TARGET",
	"action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
		"api": api,
		"serviceName": "s3.amazonaws.com",
		"errorCode": error_code,
		"remoteIpDetails": {"ipAddressV4": ip},
	}},
}

finding(type, severity, tags, permission, svc) := {
	"id": "6b5a4f3e2d1c40b9a8f7e6d5c4b3a291",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding.", [type]),
	"severity": severity,
	"severity_score": 2,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": bucket(tags),
	"resources": [bucket(tags)],
	"actor": {"user": "alice", "access_key_id": "AKIAXQ4G7NF2ALICEKEY", "ip": svc.action.awsApiCallAction.remoteIpDetails.ipAddressV4},
	"raw": {"schemaVersion": "2.0", "resource": {"resourceType": "S3Bucket", "s3BucketDetails": [bucket_detail(permission)]}, "service": svc},
}

make_input(f, facts) := {
	"finding": f,
	"resource": f.resource,
	"facts": facts,
	"scope": {"name": "s3_buckets"},
	"rule": {"name": "s3_exposure", "actions": ["notify"]},
}

trail := {"trail": {
	"events": [
		{"time": "2025-03-14T13:05:51Z", "event_name": "PutBucketPublicAccessBlock", "event_source": "s3.amazonaws.com", "user": "alice", "access_key_id": "AKIAXQ4G7NF2ALICEKEY", "source_ip": "192.0.2.15", "user_agent": "aws-cli/2.15.30", "error_code": "", "resources": [], "read_only": false},
		{"time": "2025-03-14T13:07:02Z", "event_name": "PutBucketPolicy", "event_source": "s3.amazonaws.com", "user": "alice", "access_key_id": "AKIAXQ4G7NF2ALICEKEY", "source_ip": "192.0.2.15", "user_agent": "aws-cli/2.15.30", "error_code": "AccessDenied", "resources": [], "read_only": false},
		{"time": "2025-03-14T13:08:00Z", "event_name": "GetBucketPolicy", "event_source": "s3.amazonaws.com", "user": "alice", "access_key_id": "AKIAXQ4G7NF2ALICEKEY", "source_ip": "192.0.2.15", "user_agent": "aws-cli/2.15.30", "error_code": "", "resources": [], "read_only": true},
	],
	"truncated": false,
}}

bpa_disabled := finding("Policy:S3/BucketBlockPublicAccessDisabled", "low", {"Environment": "prod"}, "NOT_PUBLIC", service("PutBucketPublicAccessBlock", "192.0.2.15", ""))

has_reason(doc, text) if {
	some r in doc.reasons
	contains(r, text)
}

test_block_public_access_disabled_is_suspicious if {
	v := verdict with input as make_input(bpa_disabled, trail)
	v.verdict == "suspicious"
	v.confidence == 0.6
	"GuardDuty: alice (key AKIAXQ4G7NF2ALICEKEY) called PutBucketPublicAccessBlock from 192.0.2.15: GuardDuty Policy:S3/BucketBlockPublicAccessDisabled finding" in v.reasons
	"CloudTrail: PutBucketPublicAccessBlock by alice from 192.0.2.15 at 2025-03-14T13:05:51Z" in v.reasons
	"CloudTrail: PutBucketPolicy by alice from 192.0.2.15 at 2025-03-14T13:07:02Z (denied: AccessDenied)" in v.reasons
	not has_reason(v, "GetBucketPolicy")
	v.root_cause == "alice (key AKIAXQ4G7NF2ALICEKEY) changed the bucket's access with PutBucketPublicAccessBlock"
	v.impact == "bucket acme-prod-customer-exports is not public yet, but nothing at the bucket level stops the next policy or ACL from making it so; cordon has no action for S3 buckets: containment is manual"
	v.summary == "Bucket acme-prod-customer-exports needs a responder: GuardDuty Policy:S3/BucketBlockPublicAccessDisabled finding."
}

test_a_public_bucket_is_more_certain if {
	f := finding("Policy:S3/BucketAnonymousAccessGranted", "high", {}, "PUBLIC", service("PutBucketPolicy", "192.0.2.15", ""))
	v := verdict with input as make_input(f, trail)
	v.verdict == "suspicious"
	v.confidence == 0.7
	"bucket acme-prod-customer-exports is public now (effective permission PUBLIC)" in v.reasons
	startswith(v.impact, "bucket acme-prod-customer-exports is readable or writable by anyone on the internet (effective permission PUBLIC)")
}

test_public_access_from_the_normalized_details if {
	f := object.union(bpa_disabled, {"resource": {"details": {"public_access": {"effective_permission": "PUBLIC"}}}})
	v := verdict with input as make_input(f, trail)
	has_reason(v, "is public now")
}

test_intended_public_buckets_are_benign if {
	f := finding("Policy:S3/BucketPublicAccessGranted", "high", {"cordon:public": "true"}, "PUBLIC", service("PutBucketPolicy", "192.0.2.15", ""))
	v := verdict with input as make_input(f, trail)
	v.verdict == "benign"
	v.confidence == 0.9
	"bucket acme-prod-customer-exports is tagged cordon:public = \"true\": public access is intended" in v.reasons
	"GuardDuty: GuardDuty Policy:S3/BucketPublicAccessGranted finding (Policy:S3/BucketPublicAccessGranted)" in v.reasons
	v.summary == "Policy:S3/BucketPublicAccessGranted on bucket acme-prod-customer-exports is expected: the bucket is meant to be public."
	not v.impact
}

test_the_public_tag_does_not_excuse_attacks if {
	svc := object.union(service("GetObject", "198.51.100.0", ""), {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Exfil"]}]}})
	f := finding("Exfiltration:S3/MaliciousIPCaller", "high", {"cordon:public": "true"}, "PUBLIC", svc)
	v := verdict with input as make_input(f, trail)
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: alice (key AKIAXQ4G7NF2ALICEKEY) called GetObject on bucket acme-prod-customer-exports from 198.51.100.0, which is on threat list ProofPoint (Exfil)" in v.reasons
	v.root_cause == "alice (key AKIAXQ4G7NF2ALICEKEY), operating from 198.51.100.0 (threat list ProofPoint), has credentials that reach the bucket"
	v.summary == "Bucket acme-prod-customer-exports is being attacked: Exfiltration:S3/MaliciousIPCaller at high severity."
	contains(v.impact, "198.51.100.0 can act on the bucket with alice (key AKIAXQ4G7NF2ALICEKEY)'s permissions")
}

test_malicious_caller_without_a_threat_list_is_suspicious if {
	f := finding("Discovery:S3/MaliciousIPCaller", "medium", {}, "NOT_PUBLIC", service("ListObjects", "198.51.100.0", "AccessDenied"))
	v := verdict with input as make_input(f, trail)
	v.verdict == "suspicious"
	has_reason(v, "an address GuardDuty considers malicious, but the finding names no threat list")
	"the reported call ListObjects was denied (AccessDenied): it neither read nor changed data" in v.reasons
}

test_pentest_distributions_are_suspicious if {
	f := finding("PenTest:S3/KaliLinux", "medium", {}, "NOT_PUBLIC", service("ListObjects", "198.51.100.0", ""))
	v := verdict with input as make_input(f, {})
	v.verdict == "suspicious"
	"GuardDuty: alice (key AKIAXQ4G7NF2ALICEKEY) called ListObjects on bucket acme-prod-customer-exports from a host running KaliLinux, a penetration-testing distribution: confirm whether a test is authorized" in v.reasons
	not has_reason(v, "no CloudTrail evidence")
}

test_tor_and_anomalies_are_suspicious if {
	tor := finding("UnauthorizedAccess:S3/TorIPCaller", "medium", {}, "NOT_PUBLIC", service("GetObject", "192.0.2.66", ""))
	v := verdict with input as make_input(tor, trail)
	v.verdict == "suspicious"
	has_reason(v, "through the Tor network (exit node 192.0.2.66)")
	odd := finding("Impact:S3/AnomalousBehavior.Delete", "high", {}, "NOT_PUBLIC", service("DeleteObjects", "192.0.2.66", ""))
	w := verdict with input as make_input(odd, trail)
	w.verdict == "suspicious"
	has_reason(w, "made Impact calls on bucket acme-prod-customer-exports unlike its history")
}

test_missing_cloudtrail_is_stated_for_policy_findings if {
	v := verdict with input as make_input(bpa_disabled, {"trail": {"error": "throttled"}})
	`no CloudTrail evidence (collector "trail" failed: throttled): who changed the bucket's access was not checked` in v.reasons
}

test_unknown_types_are_inconclusive if {
	f := finding("Impact:S3/SomethingNew", "low", {}, "NOT_PUBLIC", service("PutObject", "192.0.2.15", ""))
	v := verdict with input as make_input(f, trail)
	v.verdict == "inconclusive"
	v.confidence == 0.5
	"GuardDuty reported Impact:S3/SomethingNew at low severity, but the finding does not say enough to judge it" in v.reasons
	v.root_cause == "undetermined: the evidence does not show how the caller got access"
	v.summary == "Impact:S3/SomethingNew on bucket acme-prod-customer-exports could be neither confirmed nor explained; a responder should review it."
}

test_access_logging_turned_off_is_suspicious if {
	f := finding("Stealth:S3/ServerAccessLoggingDisabled", "low", {}, "NOT_PUBLIC", service("PutBucketLogging", "192.0.2.15", ""))
	v := verdict with input as make_input(f, trail)
	v.verdict == "suspicious"
	"GuardDuty: alice (key AKIAXQ4G7NF2ALICEKEY) turned off server access logging of bucket acme-prod-customer-exports with PutBucketLogging: with it off, reads of the bucket leave no access log" in v.reasons
}

test_published_pentest_sample_in_its_shape if {
	raw := {
		"type": "PenTest:S3/ParrotLinux",
		"resource": {
			"resourceType": "S3Bucket",
			"accessKeyDetails": {"accessKeyId": "GeneratedFindingAccessKeyId", "userName": "GeneratedFindingUserName", "userType": "IAMUser"},
			"s3BucketDetails": [{"name": "bucketName", "publicAccess": {"effectivePermission": "NOT_PUBLIC"}}],
		},
		"service": {
			"action": {"awsApiCallAction": {"api": "GeneratedFindingAPIName", "errorCode": "AccessDenied", "remoteIpDetails": {"ipAddressV4": "198.51.100.0"}}},
			"additionalInfo": {"sample": true},
		},
	}
	b := {"type": "aws_s3_bucket", "id": "bucketName", "tags": {"foo": "bar"}, "details": {}}
	f := {"id": "2cbf285e52a6e74ff96f4cb3cf93296d", "source": "guardduty", "type": "PenTest:S3/ParrotLinux", "severity": "medium", "severity_score": 5, "count": 1, "resource": b, "resources": [b], "raw": raw}
	v := verdict with input as make_input(f, {})
	v.verdict == "suspicious"
	"GuardDuty: GeneratedFindingUserName called GeneratedFindingAPIName on bucket bucketName from a host running ParrotLinux, a penetration-testing distribution: confirm whether a test is authorized" in v.reasons
	"GuardDuty marked this finding as a generated sample" in v.reasons
}

test_boto3_spelling_of_the_bucket_and_caller if {
	raw := {"Resource": {
		"AccessKeyDetails": {"UserName": "bob"},
		"S3BucketDetails": [{"Name": bucket_name, "PublicAccess": {"EffectivePermission": "PUBLIC"}}],
	}}
	b := bucket({})
	f := {"id": "x", "source": "guardduty", "type": "Policy:S3/BucketAnonymousAccessGranted", "title": "", "severity": "high", "severity_score": 7, "count": 1, "resource": b, "resources": [b], "raw": raw}
	v := verdict with input as make_input(f, trail)
	"bucket acme-prod-customer-exports is public now (effective permission PUBLIC)" in v.reasons
	"GuardDuty: bob called the S3 API from an unknown address: Policy:S3/BucketAnonymousAccessGranted" in v.reasons
	v.root_cause == "bob changed the bucket's access with the S3 API"
}

test_an_unknown_caller if {
	b := bucket({})
	f := {"id": "x", "source": "guardduty", "type": "Policy:S3/BucketAnonymousAccessGranted", "severity": "high", "severity_score": 7, "count": 1, "resource": b, "resources": [b], "raw": {}}
	v := verdict with input as make_input(f, trail)
	v.root_cause == "an unknown caller changed the bucket's access with the S3 API"
}

test_several_signs_raise_suspicion if {
	f := finding("PenTest:S3/KaliLinux", "medium", {}, "PUBLIC", service("GetObject", "198.51.100.0", ""))
	g := object.union(f, {"actor": {"access_key_id": ""}})
	v := verdict with input as make_input(g, {})
	v.verdict == "suspicious"
	v.confidence == 0.7
	has_reason(v, "GuardDuty: alice called GetObject on bucket")
}

test_several_signs_on_a_private_bucket if {
	f := finding("Policy:S3/BucketBlockPublicAccessDisabled", "low", {}, "NOT_PUBLIC", service("PutBucketPublicAccessBlock", "198.51.100.0", ""))
	g := object.union(f, {"raw": {"service": {"action": {"awsApiCallAction": {"api": "x"}}}}, "type": "Policy:S3/AnomalousBehavior"})
	v := verdict with input as make_input(g, trail)
	v.verdict == "suspicious"
	v.confidence == 0.7
}

# GuardDuty's bucket details and caller in a finding that is not GuardDuty's
# (OCSF from another product, carrying GuardDuty's resource block) are its
# own words: the bucket is not taken to be public on them.
test_guardduty_fields_of_another_product_are_not_read if {
	raw := {
		"class_uid": 2004,
		"metadata": {"product": {"uid": "arn:aws:securityhub:us-west-2:444455556666:product/444455556666/default", "name": "GuardDuty"}},
		"resource": {
			"accessKeyDetails": {"userName": "bob"},
			"s3BucketDetails": [{"name": bucket_name, "publicAccess": {"effectivePermission": "PUBLIC"}}],
		},
	}
	b := bucket({})
	f := {"id": "x", "source": "ocsf", "type": "Policy:S3/BucketAnonymousAccessGranted", "title": "", "severity": "high", "severity_score": 7, "count": 1, "resource": b, "resources": [b], "raw": raw}
	v := verdict with input as make_input(f, trail)
	not has_reason(v, "public now")
	not has_reason(v, "bob")
	v.root_cause == "an unknown caller changed the bucket's access with the S3 API"
}

# ---------------------------------------------------------------------------
# The caller's key

caller_key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2ALICEKEY", "tags": {}, "details": {"access_key_id": "AKIAXQ4G7NF2ALICEKEY", "user_name": "alice", "user_type": "IAMUser"}}

caller_user := {"type": "aws_iam_user", "id": "alice", "tags": {}, "details": {"user_name": "alice"}}

test_a_threat_listed_callers_key_is_contained if {
	svc := object.union(service("GetObject", "198.51.100.0", ""), {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Exfil"]}]}})
	f := finding("Exfiltration:S3/MaliciousIPCaller", "high", {}, "NOT_PUBLIC", svc)
	with_key := object.union(f, {"resources": [bucket({}), caller_key, caller_user]})
	v := verdict with input as make_input(with_key, trail)
	v.verdict == "malicious"
	contains(v.impact, "the caller's key AKIAXQ4G7NF2ALICEKEY is disabled; the bucket itself (its policy, ACLs, Block Public Access) is contained by hand")
	not contains(v.impact, "cordon has no action for S3 buckets")
	w := verdict with input as make_input(f, trail)
	contains(w.impact, "cordon has no action for S3 buckets: containment is manual")
}

test_a_finding_without_a_bucket if {
	f := finding("Policy:S3/AccountBlockPublicAccessDisabled", "low", {}, "NOT_PUBLIC", service("PutAccountPublicAccessBlock", "192.0.2.15", ""))
	on_key := object.union(object.remove(f, ["resource", "resources"]), {"resource": caller_key, "resources": [caller_key, caller_user]})
	v := verdict with input as make_input(on_key, trail)
	v.verdict == "suspicious"
	v.summary == "Bucket (the account's buckets) needs a responder: GuardDuty Policy:S3/AccountBlockPublicAccessDisabled finding."
}
