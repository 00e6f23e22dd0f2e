# The configuration of the apply tests: every instance of the demo fleet
# (internal/demo/fleet.json) that a finding names is tagged, protected,
# isolated, snapshotted and stopped, and a webhook is told. The endpoint
# and webhook are set by the tests.

variable "webhook_url" {
  type    = string
  default = "https://hooks.example.com/cordon"
}

scope "instances" {
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

action "tag" {
  type = "aws_ec2_tag"
}

action "protect" {
  type = "aws_ec2_termination_protection"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
}

action "snapshot" {
  type = "aws_ec2_snapshot"
}

action "stop" {
  type = "aws_ec2_stop"
  wait = "30s"
}

action "notify" {
  type = "webhook"
  url  = var.webhook_url
}

rule "respond" {
  scopes  = [scope.instances]
  actions = [action.tag, action.protect, action.isolate, action.snapshot, action.stop, action.notify]
}
