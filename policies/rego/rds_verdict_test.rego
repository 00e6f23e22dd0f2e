package cordon.rds.verdict_test

import data.cordon.rds.verdict

db := {"type": "aws_db_instance", "id": "orders-db-1", "tags": {}, "details": {"db_instance_identifier": "orders-db-1", "engine": "aurora-postgresql", "db_cluster_identifier": "orders-db"}}

login_service(attrs) := {
	"serviceName": "guardduty",
	"featureName": "RdsLoginEvents",
	"action": {"actionType": "RDS_LOGIN_ATTEMPT", "rdsLoginAttemptAction": {
		"remoteIpDetails": {"ipAddressV4": "198.51.100.91"},
		"loginAttributes": attrs,
	}},
}

brute_attrs := [{"user": "app_admin", "application": "psql", "failedLoginAttempts": 412, "successfulLoginAttempts": 1}]

finding(type, severity, user, svc) := {
	"id": "e3f4a5b6c7d8491029384756a1b2c3d4",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding.", [type]),
	"severity": severity,
	"severity_score": 8,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": db,
	"resources": [db],
	"network": {"remote_ip": "198.51.100.91"},
	"actor": {"user": user, "ip": "198.51.100.91"},
	"raw": {"schemaVersion": "2.0", "type": type, "service": svc},
}

make_input(f) := {
	"finding": f,
	"resource": f.resource,
	"facts": {},
	"scope": {"name": "db_instances"},
	"rule": {"name": "rds_threat", "actions": ["notify"]},
}

has_reason(doc, text) if {
	some r in doc.reasons
	contains(r, text)
}

test_successful_brute_force_is_malicious if {
	f := finding("CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce", "high", "app_admin", login_service(brute_attrs))
	v := verdict with input as make_input(f)
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: database user app_admin logged in to orders-db-1 (aurora-postgresql) from 198.51.100.91 after a run of failed attempts: a successful brute force" in v.reasons
	"GuardDuty counted 412 failed and 1 successful login(s) of database user app_admin with psql" in v.reasons
	v.root_cause == "the password of database user app_admin was guessed by brute force from 198.51.100.91"
	v.summary == "Database orders-db-1 (aurora-postgresql) is compromised: the password of database user app_admin was guessed by brute force from 198.51.100.91."
	v.impact == "whoever logged in can read and change what database user app_admin may in orders-db-1 (aurora-postgresql); orders-db-1 (aurora-postgresql) accepts connections from 198.51.100.91: its security groups or network ACLs let the attempts through"
}

test_a_login_from_a_threat_listed_address if {
	svc := object.union(login_service([{"user": "reporting"}]), {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Scanner"]}]}})
	f := finding("CredentialAccess:RDS/MaliciousIPCaller.SuccessfulLogin", "high", "reporting", svc)
	v := verdict with input as make_input(f)
	v.verdict == "malicious"
	v.confidence == 0.95
	"GuardDuty: 198.51.100.91 is on threat list ProofPoint (Scanner)" in v.reasons
	v.root_cause == "database user reporting logged in from 198.51.100.91, an address on a threat list"
	not has_reason(v, "GuardDuty counted")
}

test_a_login_from_tor if {
	f := finding("CredentialAccess:RDS/TorIPCaller.SuccessfulLogin", "high", "", login_service([]))
	v := verdict with input as make_input(f)
	v.verdict == "malicious"
	"GuardDuty: a database user logged in to orders-db-1 (aurora-postgresql) from 198.51.100.91, a Tor exit node: whoever it is hides where they are" in v.reasons
}

test_failed_logins_are_suspicious if {
	f := finding("CredentialAccess:RDS/TorIPCaller.FailedLogin", "medium", "postgres", login_service([{"user": "postgres", "failedLoginAttempts": 37}]))
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	v.confidence == 0.6
	"GuardDuty: failed logins to orders-db-1 (aurora-postgresql) as database user postgres from 198.51.100.91, a Tor exit node: whoever it is hides where they are" in v.reasons
	"GuardDuty counted 37 failed and 0 successful login(s) of database user postgres" in v.reasons
	v.root_cause == "undetermined: the finding does not show whether anyone logged in"
	v.summary == "Database orders-db-1 (aurora-postgresql) needs a responder: GuardDuty CredentialAccess:RDS/TorIPCaller.FailedLogin finding (medium severity)."
	v.impact == "orders-db-1 (aurora-postgresql) accepts connections from 198.51.100.91: its security groups or network ACLs let the attempts through"
	anomalous := finding("CredentialAccess:RDS/AnomalousBehavior.FailedLogin", "low", "postgres", login_service([]))
	w := verdict with input as make_input(anomalous)
	has_reason(w, "unlike the database's history")
}

test_an_unusual_login_is_suspicious if {
	f := finding("CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", "high", "app", login_service([]))
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	"GuardDuty: database user app logged in to orders-db-1 (aurora-postgresql) from 198.51.100.91, unlike its history: confirm it with the user's owner" in v.reasons
}

test_probing_is_suspicious if {
	svc := {"serviceName": "guardduty", "action": {"actionType": "RDS_LOGIN_ATTEMPT"}}
	f := finding("Discovery:RDS/MaliciousIPCaller", "medium", "", svc)
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	"GuardDuty: 198.51.100.91 probed orders-db-1 (aurora-postgresql), an address on a threat list" in v.reasons
}

test_several_signs_raise_suspicion if {
	f := finding("Discovery:RDS/SomethingNew", "high", "", {"serviceName": "guardduty"})
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	"GuardDuty: GuardDuty Discovery:RDS/SomethingNew finding (Discovery:RDS/SomethingNew, high severity)" in v.reasons
	tor := finding("Discovery:RDS/TorIPCaller.SomethingNew", "high", "", {"serviceName": "guardduty"})
	w := verdict with input as make_input(tor)
	w.confidence == 0.6
	both := object.union(finding("CredentialAccess:RDS/TorIPCaller.FailedLogin", "medium", "", {}), {"type": "Discovery:RDS/TorIPCaller.FailedLogin"})
	x := verdict with input as make_input(both)
	x.confidence == 0.7
}

test_unknown_types_are_inconclusive if {
	bare := object.union(db, {"details": {"engine": ""}})
	f := json.patch(object.union(finding("Impact:RDS/SomethingNew", "medium", "", {}), {"resource": bare, "title": ""}), [
		{"op": "remove", "path": "/network"},
		{"op": "remove", "path": "/actor/ip"},
	])
	v := verdict with input as make_input(f)
	v.caller == "an unknown address"
	v.verdict == "inconclusive"
	v.confidence == 0.5
	v.reasons == {"GuardDuty reported Impact:RDS/SomethingNew at medium severity, but the finding does not say enough to judge it"}
	v.summary == "Impact:RDS/SomethingNew on database orders-db-1 could be neither confirmed nor explained; a responder should review it."
	not v.impact
}

test_pascal_case_login_attributes if {
	svc := {"Action": {"RdsLoginAttemptAction": {"LoginAttributes": [{"User": "app", "Application": "JDBC", "FailedLoginAttempts": 3, "SuccessfulLoginAttempts": 2}]}}}
	f := json.patch(finding("CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", "high", "app", {}), [
		{"op": "remove", "path": "/raw/service"},
		{"op": "add", "path": "/raw/Service", "value": svc},
	])
	v := verdict with input as make_input(f)
	"GuardDuty counted 3 failed and 2 successful login(s) of database user app with JDBC" in v.reasons
}

test_sample_findings_are_noted if {
	f := object.union(finding("CredentialAccess:RDS/TorIPCaller.FailedLogin", "medium", "", {}), {"sample": true})
	v := verdict with input as make_input(f)
	"GuardDuty marked this finding as a generated sample" in v.reasons
}
