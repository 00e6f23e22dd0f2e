# Every collector type that calls AWS, on the instances of the demo fleet
# (internal/demo/fleet.json): the IAM policy test plans with it so it sees
# the collectors' calls.

cordon {
  policy_paths = ["policies"]
}

variable "describe_required" {
  type    = bool
  default = false
}

variable "triage_timeout" {
  type    = string
  default = "20s"
}

scope "instances" {
  resource_types = ["aws_instance"]
}

collector "describe" {
  type     = "aws_ec2_describe"
  required = var.describe_required
}

collector "triage" {
  type    = "aws_ssm_triage"
  timeout = var.triage_timeout
}

collector "trail" {
  type = "aws_cloudtrail_events"
}

collector "related" {
  type = "aws_guardduty_related"
}

collector "console" {
  type = "aws_ec2_console"
}

collector "disk" {
  type = "aws_ebs_acquire"
}

action "tag" {
  type = "aws_ec2_tag"
}

rule "investigate" {
  scopes   = [scope.instances]
  collect  = [collector.describe, collector.triage, collector.trail, collector.related, collector.console, collector.disk]
  actions  = [action.tag]
  verdict  = "cordon.investigate"
  response = "cordon.investigate"
}

# A second rule listing a collector the first lists too: its facts are
# gathered once per resource and shared.
rule "describe_only" {
  scopes   = [scope.instances]
  collect  = [collector.describe]
  actions  = [action.tag]
  verdict  = "cordon.investigate"
  response = "cordon.investigate"
}
