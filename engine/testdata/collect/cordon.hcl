# Every collector type that calls AWS, on the instances of the demo fleet
# (internal/demo/fleet.json): the IAM policy test plans with it so it sees
# the collectors' calls.

cordon {
  policy_paths = ["policies"]
}

scope "instances" {
  resource_types = ["aws_instance"]
}

collector "describe" {
  type = "aws_ec2_describe"
}

collector "triage" {
  type    = "aws_ssm_triage"
  timeout = "20s"
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
