# The daemon's GuardDuty source test: the daemon configuration's response
# (tag, isolate, stop, notify), with findings polled from the emulator's
# GuardDuty detector in the production account, and no other input.

variable "webhook_url" {
  type    = string
  default = "https://hooks.example.com/cordon"
}

source "guardduty" "poll" {
  regions  = ["us-west-2"]
  account  = "123456789012"
  interval = "1s"
}

scope "instances" {
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

action "tag" {
  type = "aws_ec2_tag"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
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
  actions = [action.tag, action.isolate, action.stop, action.notify]
}
