# The configuration of the IAM policy tests: every action and collector
# type that calls AWS, on the production instances of the demo fleet
# (internal/demo/fleet.json) and of a second account the test adds, in
# scopes that name the accounts, the region and the tags, so that
# `cordon iam-policy` narrows every statement it can. The tests hold the
# responder roles to exactly that policy.

variable "webhook_url" {
  type    = string
  default = "https://hooks.example.com/cordon"
}

provider "aws" {
  region          = "us-west-2"
  assume_role_arn = "arn:aws:iam::{account}:role/cordon-responder"
}

scope "prod_instances" {
  accounts       = ["123456789012", "999988887777"]
  regions        = ["us-west-2"]
  resource_types = ["aws_instance"]
  tags           = { Environment = "prod" }
  exclude_tags   = { "cordon:exempt" = "true" }
}

collector "describe" { type = "aws_ec2_describe" }
collector "triage" {
  type    = "aws_ssm_triage"
  timeout = "20s"
}
collector "trail" { type = "aws_cloudtrail_events" }
collector "related" { type = "aws_guardduty_related" }
collector "console" {
  type       = "aws_ec2_console"
  screenshot = true
}
collector "disk" { type = "aws_ebs_acquire" }

action "tag" { type = "aws_ec2_tag" }
action "protect" { type = "aws_ec2_termination_protection" }
action "isolate" {
  type         = "aws_ec2_isolate"
  untrack      = true
  untrack_wait = "10ms"
}
action "profile" {
  type            = "aws_ec2_instance_profile"
  revoke_sessions = true
}
action "detach" { type = "aws_autoscaling_detach" }
action "deregister" { type = "aws_elb_deregister" }
action "snapshot" { type = "aws_ec2_snapshot" }
action "stop" { type = "aws_ec2_stop" }
action "notify" {
  type = "webhook"
  url  = var.webhook_url
}

rule "respond" {
  scopes  = [scope.prod_instances]
  collect = [collector.describe, collector.triage, collector.trail, collector.related, collector.console, collector.disk]
  actions = [action.tag, action.protect, action.isolate, action.profile, action.detach, action.deregister,
  action.snapshot, action.stop, action.notify]
}
