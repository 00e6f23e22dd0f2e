package cordon.iam.verdict_test

import data.cordon.iam.verdict

# ---------------------------------------------------------------------------
# Inputs

key_resource(id, user_type, user_name, principal_id) := {
	"type": "aws_iam_access_key",
	"id": id,
	"tags": {},
	"details": {"access_key_id": id, "principal_id": principal_id, "user_name": user_name, "user_type": user_type},
}

role_key := key_resource("ASIAXQ4G7NF2R5EXAMPL", "AssumedRole", "web-app-role", "AROAXQ4G7NF2WEBAPPRL:i-0a1b2c3d4e5f67890")

role := {"type": "aws_iam_role", "id": "web-app-role", "tags": {}, "details": {}}

user_key := key_resource("AKIAXQ4G7NF2CIDEPLOY", "IAMUser", "ci-deploy", "AIDAXQ4G7NF2CIDEPLOY")

user := {"type": "aws_iam_user", "id": "ci-deploy", "tags": {}, "details": {}}

root_key := key_resource("AKIAXQ4G7NF2ROOTKEY1", "Root", "Root", "123456789012")

api_service(api, ip, error_code) := {
	"serviceName": "guardduty",
	"resourceRole": "TARGET",
	"action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
		"api": api,
		"serviceName": "s3.amazonaws.com",
		"callerType": "Remote IP",
		"errorCode": error_code,
		"remoteIpDetails": {"ipAddressV4": ip},
	}},
}

finding(type, severity, resources, service) := {
	"id": "9d8c7b6a5f4e4d3c2b1a0f9e8d7c6b5a",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding.", [type]),
	"severity": severity,
	"severity_score": 5,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": resources[0],
	"resources": resources,
	"actor": {"type": "AWS_API_CALL", "user": resources[0].details.user_name, "access_key_id": resources[0].id, "ip": service.action.awsApiCallAction.remoteIpDetails.ipAddressV4},
	"raw": {"schemaVersion": "2.0", "type": type, "service": service},
}

make_input(f, facts) := {
	"finding": f,
	"resource": f.resource,
	"facts": facts,
	"scope": {"name": "iam_principals"},
	"rule": {"name": "iam_credential_compromise", "actions": ["disable_key", "deny_all", "notify"]},
}

event(name, key, ip, error_code) := {
	"time": "2025-03-14T11:33:40Z",
	"event_name": name,
	"event_source": "iam.amazonaws.com",
	"user": "ci-deploy",
	"access_key_id": key,
	"source_ip": ip,
	"user_agent": "aws-cli/2.15.30",
	"error_code": error_code,
	"resources": [],
	"read_only": false,
}

trail(events) := {"trail": {"events": events, "truncated": false}}

exfiltration := finding(
	"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "high",
	[role_key, role], api_service("ListBuckets", "203.0.113.77", ""),
)

anomalous := finding(
	"Discovery:IAMUser/AnomalousBehavior", "medium",
	[user_key, user], api_service("ListAttachedUserPolicies", "198.51.100.61", ""),
)

threat_list_service := object.union(
	api_service("GetCallerIdentity", "198.51.100.0", "AccessDenied"),
	{"evidence": {"threatIntelligenceDetails": [{"threatListName": "CustomThreatList", "threatNames": ["Brute forcer"]}]}},
)

malicious_caller := finding("Recon:IAMUser/MaliciousIPCaller.Custom", "medium", [user_key, user], threat_list_service)

has_reason(doc, text) if {
	some r in doc.reasons
	contains(r, text)
}

# ---------------------------------------------------------------------------
# Malicious

test_instance_credentials_used_outside_aws if {
	v := verdict with input as make_input(exfiltration, trail([]))
	v.verdict == "malicious"
	v.confidence == 0.95
	"GuardDuty: credentials EC2 issued to role web-app-role on instance i-0a1b2c3d4e5f67890 were used from 203.0.113.77, outside AWS to call ListBuckets" in v.reasons
	"ASIAXQ4G7NF2R5EXAMPL is a temporary key issued by STS: it cannot be disabled, only its role's sessions revoked" in v.reasons
	v.root_cause == "temporary credentials of role web-app-role, issued to instance i-0a1b2c3d4e5f67890, were stolen from it (through its metadata service, by code on it or by SSRF) and used from 203.0.113.77"
	v.summary == concat("", ["The credentials of role web-app-role are compromised: ", v.root_cause, "."])
	contains(v.impact, "revoking the sessions of role web-app-role also signs out its legitimate sessions")
}

test_instance_credentials_used_from_another_account if {
	f := object.union(exfiltration, {"type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"})
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "malicious"
	v.confidence == 0.9
	has_reason(v, "were used from another AWS account (203.0.113.77) to call ListBuckets")
}

test_exfiltration_without_a_session_instance if {
	key := key_resource("ASIAXQ4G7NF2R5EXAMPL", "AssumedRole", "web-app-role", "AROAXQ4G7NF2WEBAPPRL")
	f := object.union(object.remove(exfiltration, ["resource", "resources"]), {"resource": key, "resources": [key]})
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "malicious"
	"GuardDuty: credentials EC2 issued to AssumedRole web-app-role were used from 203.0.113.77, outside AWS to call ListBuckets" in v.reasons
	v.root_cause == "temporary credentials EC2 issued to AssumedRole web-app-role were stolen and used from 203.0.113.77"
}

test_malicious_caller_on_a_threat_list if {
	v := verdict with input as make_input(malicious_caller, trail([]))
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: user ci-deploy called GetCallerIdentity from 198.51.100.0, which is on threat list CustomThreatList (Brute forcer)" in v.reasons
	"the reported call GetCallerIdentity was denied (AccessDenied): the caller holds the credentials but lacked permission for that call" in v.reasons
	v.root_cause == "access key AKIAXQ4G7NF2CIDEPLOY of user ci-deploy is in the hands of whoever operates from 198.51.100.0 (threat list CustomThreatList)"
}

test_malicious_caller_in_pascal_case_raw if {
	f := object.union(object.remove(malicious_caller, ["raw"]), {"raw": {"Service": {
		"ResourceRole": "TARGET",
		"Action": {"AwsApiCallAction": {"Api": "ListUsers", "RemoteIpDetails": {"IpAddressV4": "198.51.100.0"}}},
		"Evidence": {"ThreatIntelligenceDetails": [{"ThreatListName": "GeneratedFindingThreatListName", "ThreatNames": ["GeneratedFindingThreatName"]}]},
	}}})
	g := object.remove(f, ["actor"])
	v := verdict with input as make_input(g, trail([]))
	v.verdict == "malicious"
	"GuardDuty: user ci-deploy called ListUsers from 198.51.100.0, which is on threat list GeneratedFindingThreatListName (GeneratedFindingThreatName)" in v.reasons
	not has_reason(v, "was denied")
}

persistence := [
	event("ListAttachedUserPolicies", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""),
	event("CreateUser", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""),
	event("CreateAccessKey", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""),
	event("AttachUserPolicy", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""),
	event("StopLogging", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", "AccessDenied"),
	# The owner's own use, from their usual address, is not held against them.
	event("CreateAccessKey", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.200", ""),
	event("DeleteTrail", "AKIAOTHERKEY00000000", "198.51.100.61", ""),
]

test_cloudtrail_shows_persistence if {
	v := verdict with input as make_input(anomalous, trail(persistence))
	v.verdict == "malicious"
	v.confidence == 0.9
	"CloudTrail: the key called AttachUserPolicy, CreateAccessKey, CreateUser from 198.51.100.61 (persistence, privilege escalation or log tampering)" in v.reasons
	"CloudTrail: 1 denied call(s) with the key from 198.51.100.61 (StopLogging): someone is probing its permissions" in v.reasons
	"GuardDuty: user ci-deploy made Discovery API calls unlike its history (GuardDuty Discovery:IAMUser/AnomalousBehavior finding)" in v.reasons
	v.root_cause == "access key AKIAXQ4G7NF2CIDEPLOY of user ci-deploy was used to call AttachUserPolicy, CreateAccessKey, CreateUser"
	contains(v.impact, "it has already called AttachUserPolicy, CreateAccessKey, CreateUser")
}

# at(e, t) is event e at time t.
at(e, t) := object.union(e, {"time": t})

# in_window is the anomalous finding, first seen at 11:30, last at 11:40.
in_window := object.union(anomalous, {"created_at": "2025-03-14T11:30:00Z", "updated_at": "2025-03-14T11:40:00Z"})

history := [
	at(event("ListBuckets", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.200", ""), "2025-03-13T09:12:00Z"),
	at(event("GetObject", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.14", ""), "2025-03-13T17:40:00Z"),
	# an AWS service acting for the key: a host name, not a network
	at(event("Decrypt", "AKIAXQ4G7NF2CIDEPLOY", "s3.amazonaws.com", ""), "2025-03-13T17:41:00Z"),
]

test_calls_outside_the_usual_networks_are_suspicious if {
	events := array.concat(history, [
		at(event("ListAttachedUserPolicies", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""), "2025-03-14T11:33:40Z"),
		at(event("GetCallerIdentity", "AKIAXQ4G7NF2CIDEPLOY", "203.0.113.9", ""), "2025-03-14T12:02:00Z"),
		# the owner, from the office network, during the window
		at(event("ListBuckets", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.77", ""), "2025-03-14T11:35:00Z"),
		at(event("Decrypt", "AKIAXQ4G7NF2CIDEPLOY", "kms.amazonaws.com", ""), "2025-03-14T11:35:00Z"),
	])
	v := verdict with input as make_input(in_window, trail(events))
	v.verdict == "suspicious"
	"CloudTrail: the key was used from 198.51.100.61, 203.0.113.9, outside the networks it was used from before the finding (192.0.2.0/24)" in v.reasons
}

test_usual_networks_need_history if {
	# Without calls before the window nothing is usual, and nothing new.
	events := [at(event("GetCallerIdentity", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""), "2025-03-14T11:33:40Z")]
	v := verdict with input as make_input(in_window, trail(events))
	not has_reason(v, "outside the networks")
}

test_calls_from_the_usual_network_are_not_held_against_the_key if {
	events := array.concat(history, [at(event("ListBuckets", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.201", ""), "2025-03-14T11:33:40Z")])
	v := verdict with input as make_input(in_window, trail(events))
	not has_reason(v, "outside the networks")
}

test_new_network_and_stop_logging_is_malicious if {
	events := array.concat(history, [at(event("StopLogging", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""), "2025-03-14T11:36:00Z")])
	v := verdict with input as make_input(in_window, trail(events))
	v.verdict == "malicious"
	"CloudTrail: the key called StopLogging from 198.51.100.61 (persistence, privilege escalation or log tampering)" in v.reasons
	"CloudTrail: the key was used from 198.51.100.61, outside the networks it was used from before the finding (192.0.2.0/24)" in v.reasons
}

test_network_of if {
	data.cordon.lib.network_of("198.51.100.61") == "198.51.100.0/24"
	data.cordon.lib.network_of("2001:db8::1") == "2001:db8::1/128"
}

test_cloudtrail_and_detector_agree if {
	events := [event("CreateAccessKey", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.0", "")]
	v := verdict with input as make_input(malicious_caller, trail(events))
	v.verdict == "malicious"
	v.confidence == 0.99
}

test_cloudtrail_without_a_caller_address_matches_any if {
	f := object.remove(anomalous, ["actor", "raw"])
	g := object.union(f, {"raw": {}})
	v := verdict with input as make_input(g, trail([event("CreateAccessKey", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.200", "")]))
	v.verdict == "malicious"
	"CloudTrail: the key called CreateAccessKey from any address (persistence, privilege escalation or log tampering)" in v.reasons
}

# ---------------------------------------------------------------------------
# Suspicious and inconclusive

test_anomalous_behaviour_is_suspicious if {
	quiet := [
		event("GetCallerIdentity", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""),
		event("ListAttachedUserPolicies", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", ""),
	]
	v := verdict with input as make_input(anomalous, trail(quiet))
	v.verdict == "suspicious"
	v.confidence == 0.6
	v.reasons == {"GuardDuty: user ci-deploy made Discovery API calls unlike its history (GuardDuty Discovery:IAMUser/AnomalousBehavior finding)"}
	v.summary == "The credentials of user ci-deploy show signs of misuse that need a responder: Discovery:IAMUser/AnomalousBehavior at medium severity."
	v.root_cause == "undetermined: the evidence does not show how the credentials were obtained"
	v.impact == "whoever holds the key can do everything user ci-deploy is permitted to, until the key is disabled or its sessions are revoked"
}

test_missing_cloudtrail_is_stated_and_lowers_confidence if {
	v := verdict with input as make_input(anomalous, {})
	v.verdict == "suspicious"
	v.confidence == 0.5
	`no CloudTrail evidence (collector "trail" gathered nothing): what else the key did was not checked` in v.reasons
	w := verdict with input as make_input(anomalous, {"trail": {"error": "AccessDeniedException: not authorized to perform cloudtrail:LookupEvents"}})
	`no CloudTrail evidence (collector "trail" failed: AccessDeniedException: not authorized to perform cloudtrail:LookupEvents): what else the key did was not checked` in w.reasons
}

test_truncated_cloudtrail_is_noted if {
	v := verdict with input as make_input(anomalous, {"trail": {"events": [event("ListUsers", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", "")], "truncated": true}})
	"CloudTrail events were truncated: calls beyond the limit were not examined" in v.reasons
}

test_denied_probing_is_suspicious if {
	v := verdict with input as make_input(
		object.union(anomalous, {"type": "Discovery:IAMUser/SomethingElse"}),
		trail([event("ListUsers", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.61", "AccessDenied")]),
	)
	v.verdict == "suspicious"
	v.reasons == {"CloudTrail: 1 denied call(s) with the key from 198.51.100.61 (ListUsers): someone is probing its permissions"}
}

test_malicious_caller_without_a_threat_list_is_suspicious if {
	f := finding("Recon:IAMUser/MaliciousIPCaller", "medium", [user_key, user], api_service("ListBuckets", "198.51.100.0", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "suspicious"
	"GuardDuty: user ci-deploy called ListBuckets from 198.51.100.0, an address GuardDuty considers malicious, but the finding names no threat list" in v.reasons
}

test_tor_is_suspicious if {
	f := finding("UnauthorizedAccess:IAMUser/TorIPCaller", "medium", [user_key, user], api_service("GetObject", "192.0.2.66", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "suspicious"
	"GuardDuty: user ci-deploy called GetObject through the Tor network (exit node 192.0.2.66); legitimate users rarely hide where they are" in v.reasons
}

test_other_high_findings_are_suspicious if {
	f := finding("CredentialAccess:IAMUser/SomethingNew", "high", [user_key, user], api_service("", "192.0.2.66", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "suspicious"
	"GuardDuty: GuardDuty CredentialAccess:IAMUser/SomethingNew finding (CredentialAccess:IAMUser/SomethingNew, high severity)" in v.reasons
}

test_other_medium_findings_are_inconclusive if {
	f := finding("Persistence:IAMUser/SomethingNew", "medium", [user_key], api_service("", "192.0.2.66", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "inconclusive"
	v.confidence == 0.5
	v.reasons == {"GuardDuty reported Persistence:IAMUser/SomethingNew at medium severity, but neither the finding nor CloudTrail confirm or explain it"}
	v.summary == "Persistence:IAMUser/SomethingNew for IAMUser ci-deploy could be neither confirmed nor explained; a responder should review it."
	not v.impact
}

# ---------------------------------------------------------------------------
# Principals

test_root_is_named_and_noted if {
	f := finding("Recon:IAMUser/MaliciousIPCaller.Custom", "medium", [root_key], threat_list_service)
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "malicious"
	"the principal is the account's root user: cordon can neither disable root keys nor restrict root; rotate them while signed in as root" in v.reasons
	startswith(v.summary, "The credentials of the root user are compromised")
}

test_a_finding_without_a_key_resource if {
	bucket := {"type": "aws_s3_bucket", "id": "acme-data", "tags": {}, "details": {}}
	f := object.union(object.remove(malicious_caller, ["resource", "resources", "actor"]), {"resource": bucket, "resources": [bucket]})
	v := verdict with input as make_input(f, trail([event("CreateUser", "AKIAXQ4G7NF2CIDEPLOY", "198.51.100.0", "")]))
	v.verdict == "malicious"
	"GuardDuty: access key acme-data called GetCallerIdentity from 198.51.100.0, which is on threat list CustomThreatList (Brute forcer)" in v.reasons
	not has_reason(v, "CloudTrail: the key called")
}

test_unknown_caller_and_api if {
	f := object.union(object.remove(malicious_caller, ["actor", "raw"]), {"raw": {"service": {"evidence": {"threatIntelligenceDetails": [{"threatListName": "L"}]}}}})
	v := verdict with input as make_input(f, trail([]))
	"GuardDuty: user ci-deploy called the AWS API from an unknown address, which is on threat list L" in v.reasons
}

test_security_hub_form_of_the_type if {
	f := object.union(exfiltration, {"type": "TTPs/Initial Access/UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS", "source": "securityhub"})
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "malicious"
	v.confidence == 0.95
}

test_several_signs_raise_suspicion if {
	f := finding("UnauthorizedAccess:IAMUser/TorIPCaller", "medium", [user_key, user], api_service("GetObject", "192.0.2.66", ""))
	v := verdict with input as make_input(f, trail([event("ListUsers", "AKIAXQ4G7NF2CIDEPLOY", "192.0.2.66", "AccessDenied")]))
	v.verdict == "suspicious"
	v.confidence == 0.7
}

test_sample_findings_are_noted if {
	svc := object.union(api_service("GeneratedFindingAPIName", "198.51.100.0", ""), {"additionalInfo": {"sample": true}})
	f := object.union(finding("Discovery:IAMUser/AnomalousBehavior", "medium", [user_key, user], svc), {"title": ""})
	v := verdict with input as make_input(f, trail([]))
	"GuardDuty marked this finding as a generated sample" in v.reasons
	"GuardDuty: user ci-deploy made Discovery API calls unlike its history (Discovery:IAMUser/AnomalousBehavior)" in v.reasons
}

# ---------------------------------------------------------------------------
# The rest of GuardDuty's IAM findings

test_resource_credentials_used_outside_aws if {
	lambda_key := key_resource("ASIAXQ4G7NF2LAMBDA01", "AssumedRole", "report-fn-role", "AROAXQ4G7NF2REPORTFN:report-fn")
	lambda_role := {"type": "aws_iam_role", "id": "report-fn-role", "tags": {}, "details": {}}
	f := finding("UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS", "high", [lambda_key, lambda_role], api_service("ListSecrets", "203.0.113.90", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "malicious"
	v.confidence == 0.95
	"GuardDuty: credentials AWS issued to role report-fn-role were used from 203.0.113.90, outside AWS to call ListSecrets" in v.reasons
	v.root_cause == "temporary credentials AWS issued to role report-fn-role were stolen and used from 203.0.113.90"
}

test_penetration_testing_distribution_is_suspicious if {
	f := finding("PenTest:IAMUser/KaliLinux", "medium", [user_key, user], api_service("ListUsers", "198.51.100.70", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "suspicious"
	"GuardDuty: user ci-deploy called ListUsers from 198.51.100.70, which runs KaliLinux, a penetration-testing distribution: confirm whether a test is authorized" in v.reasons
}

test_logging_turned_off_is_suspicious if {
	f := finding("Stealth:IAMUser/CloudTrailLoggingDisabled", "low", [user_key, user], api_service("StopLogging", "192.0.2.66", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "suspicious"
	"GuardDuty: user ci-deploy called StopLogging: GuardDuty Stealth:IAMUser/CloudTrailLoggingDisabled finding; intruders turn off what records them" in v.reasons
}

test_anomalous_evasion_is_not_counted_twice if {
	f := finding("DefenseEvasion:IAMUser/AnomalousBehavior", "medium", [user_key, user], api_service("DeleteFlowLogs", "192.0.2.66", ""))
	v := verdict with input as make_input(f, trail([]))
	not has_reason(v, "intruders turn off what records them")
	has_reason(v, "unlike its history")
}

test_root_credential_usage_is_suspicious if {
	f := finding("Policy:IAMUser/RootCredentialUsage", "low", [root_key], api_service("ListBuckets", "192.0.2.10", ""))
	v := verdict with input as make_input(f, trail([]))
	v.verdict == "suspicious"
	"GuardDuty: the root user's credentials were used to call ListBuckets from 192.0.2.10; day-to-day work never needs root" in v.reasons
	short := object.union(f, {"type": "Policy:IAMUser/ShortTermRootCredentialUsage"})
	w := verdict with input as make_input(short, trail([]))
	w.verdict == "suspicious"
}
