package cordon.notify.response_test

import data.cordon.notify.response

db := {"type": "aws_db_instance", "id": "orders-db-1", "tags": {}, "details": {}}

fn := {"type": "aws_lambda_function", "id": "invoice-renderer", "tags": {}, "details": {"role": "arn:aws:iam::123456789012:role/invoice-renderer"}}

bucket := {"type": "aws_s3_bucket", "id": "acme-customer-uploads", "tags": {}, "details": {}}

key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2ORGADMIN", "tags": {}, "details": {}}

make_input(type, resource, actor, raw, v, allowed) := {
	"finding": {
		"id": "e3f4a5b6c7d8491029384756a1b2c3d4",
		"source": "guardduty",
		"type": type,
		"severity": "high",
		"severity_score": 8,
		"count": 1,
		"resource": resource,
		"resources": [resource],
		"actor": actor,
		"raw": raw,
	},
	"resource": resource,
	"facts": {},
	"scope": {"name": "any"},
	"rule": {"name": "r", "actions": allowed},
	"verdict": {"verdict": v, "confidence": 0.9, "reasons": [], "summary": "It happened."},
}

reason_of(x) := r if {
	some a in response.actions with input as x
	a.action == "notify"
	r := a.reason
}

test_databases_say_to_change_the_password if {
	r := reason_of(make_input("CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce", db, {"user": "app_admin"}, {}, "malicious", ["notify"]))
	r == "malicious (confidence 0.90): It happened. Next: if the login was not expected, change the password of database user app_admin on orders-db-1 (or the master password: aws rds modify-db-instance --db-instance-identifier orders-db-1 --master-user-password …), allow only known clients in its security groups, and review the database's logs for what the session did."
	s := reason_of(make_input("Discovery:RDS/TorIPCaller", db, {}, {}, "suspicious", ["notify"]))
	contains(s, "change the password of the database user on orders-db-1")
}

test_functions_say_to_stop_invocations if {
	r := reason_of(make_input("Backdoor:Lambda/C&CActivity.B", fn, {}, {}, "malicious", ["notify"]))
	endswith(r, "Next: stop new invocations (aws lambda put-function-concurrency --function-name invoice-renderer --reserved-concurrent-executions 0), review the code, layers and environment deployed last, and treat the credentials of its execution role arn:aws:iam::123456789012:role/invoice-renderer as exposed.")
	no_role := reason_of(make_input("Backdoor:Lambda/C&CActivity.B", json.patch(fn, [{"op": "remove", "path": "/details/role"}]), {}, {}, "malicious", ["notify"]))
	contains(no_role, "execution role (unknown)")
}

test_objects_say_to_remove_the_version if {
	raw := {"resource": {"s3BucketDetails": [{"s3ObjectDetails": [{"key": "invoices/x.pdf.exe", "versionId": "3HL4"}]}]}}
	r := reason_of(make_input("Object:S3/MaliciousFile", bucket, {}, raw, "malicious", ["notify"]))
	contains(r, "(aws s3api delete-object --bucket acme-customer-uploads --key invoices/x.pdf.exe --version-id 3HL4)")
	unnamed := reason_of(make_input("Object:S3/MaliciousFile", bucket, {}, {}, "malicious", ["notify"]))
	contains(unnamed, "--key <key> --version-id <version>")
}

test_other_findings_say_to_add_a_rule if {
	x := json.patch(make_input("DefenseImpairment:Organizations/ModifyCloudResourceHierarchy", key, {}, {}, "inconclusive", ["notify"]), [{"op": "remove", "path": "/verdict/summary"}])
	reason_of(x) == "inconclusive (confidence 0.90): DefenseImpairment:Organizations/ModifyCloudResourceHierarchy on AKIAXQ4G7NF2ORGADMIN. Next: review the finding where it was produced and decide the response; no rule of this configuration handles its type, so add one to automate it."
}

test_benign_and_disallowed_do_nothing if {
	count(response.actions) == 0 with input as make_input("Discovery:RDS/TorIPCaller", db, {}, {}, "benign", ["notify"])
	count(response.actions) == 0 with input as make_input("Discovery:RDS/TorIPCaller", db, {}, {}, "malicious", [])
}

test_backups_say_what_to_restore_from if {
	snap := {"type": "aws_ebs_snapshot", "id": "snap-1", "tags": {}, "details": {}}
	s := reason_of(make_input("Execution:EC2/MaliciousFile!Snapshot", snap, {}, {}, "malicious", ["notify"]))
	contains(s, "restore nothing from snapshot snap-1 and stop sharing it (aws ec2 modify-snapshot-attribute --snapshot-id snap-1 ")
	ami := {"type": "aws_ami", "id": "ami-1", "tags": {}, "details": {}}
	a := reason_of(make_input("Execution:EC2/MaliciousFile!AMI", ami, {}, {}, "malicious", ["notify"]))
	contains(a, "launch nothing from AMI ami-1 and stop sharing it")
	contains(a, "Name=image-id,Values=ami-1")
	rp := {"type": "aws_backup_recovery_point", "id": "rp-1", "tags": {}, "details": {"arn": "arn:aws:backup:us-west-2:123456789012:recovery-point:rp-1", "backup_vault_name": "prod-vault"}}
	r := reason_of(make_input("Execution:S3/MaliciousFile!RecoveryPoint", rp, {}, {}, "malicious", ["notify"]))
	contains(r, "(aws backup delete-recovery-point --backup-vault-name prod-vault --recovery-point-arn arn:aws:backup:us-west-2:123456789012:recovery-point:rp-1)")
	bare := reason_of(make_input("Execution:S3/MaliciousFile!RecoveryPoint", json.patch(rp, [{"op": "replace", "path": "/details", "value": {}}]), {}, {}, "malicious", ["notify"]))
	contains(bare, "--backup-vault-name <vault> --recovery-point-arn rp-1)")
}
