# The configuration of the forensic account tests: snapshots of the demo
# fleet's production instances are copied into the forensic account
# 444455556666 (which the tests add), re-encrypted under its key, by the
# disk acquisition collector and the snapshot action alike.

cordon {
  evidence {
    forensic_account = "444455556666"
    kms_key_id       = "arn:aws:kms:us-west-2:444455556666:key/33333333-4444-4555-8666-777777777777"
  }
}

provider "aws" {
  region          = "us-west-2"
  assume_role_arn = "arn:aws:iam::{account}:role/cordon-responder"
}

scope "prod_instances" {
  accounts       = ["123456789012"]
  regions        = ["us-west-2"]
  resource_types = ["aws_instance"]
  tags           = { Environment = "prod" }
}

collector "disk" {
  type    = "aws_ebs_acquire"
  timeout = "30s"
}

action "isolate" { type = "aws_ec2_isolate" }
action "snapshot" {
  type         = "aws_ec2_snapshot"
  copy_timeout = "30s"
}
action "stop" { type = "aws_ec2_stop" }

rule "respond" {
  scopes  = [scope.prod_instances]
  collect = [collector.disk]
  actions = [action.isolate, action.snapshot, action.stop]
}
