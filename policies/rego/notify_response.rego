# Package cordon.notify.response is the response of the rules whose
# findings cordon has no action for (RDS databases, Lambda functions, S3
# objects) and of the catch-all rule: every verdict but benign notifies,
# and the notification says what a responder should do by hand, for the
# kind of resource the finding is about.
package cordon.notify.response

import data.cordon.lib
import data.cordon.s3_malware.verdict as s3_malware

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

actions contains {
	"action": "notify",
	"target": input.resource.id,
	"reason": sprintf("%s (confidence %s): %s Next: %s", [verdict, lib.decimal(confidence), headline, next_step]),
} if {
	verdict != "benign"
	lib.allowed("notify")
}

headline := s if {
	s := input.verdict.summary
	s != ""
} else := sprintf("%s on %s.", [input.finding.type, input.resource.id])

details := input.resource.details

# next_step is the manual containment for the resource's kind.
next_step := sprintf("if the login was not expected, change the password of %s on %s (or the master password: aws rds modify-db-instance --db-instance-identifier %s --master-user-password …), allow only known clients in its security groups, and review the database's logs for what the session did.", [db_user, input.resource.id, input.resource.id]) if {
	input.resource.type == "aws_db_instance"
} else := sprintf("stop new invocations (aws lambda put-function-concurrency --function-name %s --reserved-concurrent-executions 0), review the code, layers and environment deployed last, and treat the credentials of its execution role %s as exposed.", [input.resource.id, object.get(details, "role", "(unknown)")]) if {
	input.resource.type == "aws_lambda_function"
} else := sprintf("keep a copy for analysis out of reach of its readers, then delete the object version (aws s3api delete-object --bucket %s --key %s --version-id %s), and find who uploaded it in the bucket's S3 data events.", [input.resource.id, object.get(s3_malware.object_detail, "key", "<key>"), object.get(s3_malware.object_detail, "version_id", "<version>")]) if {
	lib.finding_purpose == "Object"
} else := sprintf("restore nothing from snapshot %s and stop sharing it (aws ec2 modify-snapshot-attribute --snapshot-id %s --attribute createVolumePermission --operation-type remove --user-ids …); restore from an older snapshot of the same volume that no finding names, and delete this one once it is kept as evidence.", [input.resource.id, input.resource.id]) if {
	input.resource.type == "aws_ebs_snapshot"
} else := sprintf("launch nothing from AMI %s and stop sharing it (aws ec2 modify-image-attribute --image-id %s --launch-permission \"Remove=[{Group=all}]\"); treat the instances launched from it as infected (aws ec2 describe-instances --filters Name=image-id,Values=%s), and deregister it once it is kept as evidence.", [input.resource.id, input.resource.id, input.resource.id]) if {
	input.resource.type == "aws_ami"
} else := sprintf("restore nothing from recovery point %s (aws backup tag-resource --resource-arn %s --tags Investigation=Malware, and restrict vault %s's access policy); restore from an older recovery point of the same resource that no finding names, and delete this one once it is kept as evidence (aws backup delete-recovery-point --backup-vault-name %s --recovery-point-arn %s).", [input.resource.id, rp_arn, rp_vault, rp_vault, rp_arn]) if {
	input.resource.type == "aws_backup_recovery_point"
} else := "review the finding where it was produced and decide the response; no rule of this configuration handles its type, so add one to automate it."

rp_arn := object.get(details, "arn", input.resource.id)

rp_vault := object.get(details, "backup_vault_name", "<vault>")

db_user := sprintf("database user %s", [u]) if {
	u := input.finding.actor.user
	lib.non_empty_string(u)
} else := "the database user"
