# The daemon tests' configuration: every instance of the demo fleet
# (internal/demo/fleet.json) that a finding names is tagged, isolated and
# stopped, and a webhook is told. The tests set the webhook, the approval
# mode, the rate limit and the serve block's knobs through variables.

variable "webhook_url" {
  type    = string
  default = "https://hooks.example.com/cordon"
}

variable "approval" {
  type    = string
  default = "auto"
}

variable "max_per_hour" {
  type    = number
  default = 0
}

variable "dry_run" {
  type    = bool
  default = false
}

variable "approval_timeout" {
  type    = string
  default = "24h"
}

variable "breaker_max" {
  type    = number
  default = 1000
}

serve {
  dry_run          = var.dry_run
  max_concurrent   = 4
  approval_timeout = var.approval_timeout
  circuit_breaker  = { max_actions = var.breaker_max, window = "10m" }
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
  scopes               = [scope.instances]
  actions              = [action.tag, action.isolate, action.stop, action.notify]
  approval             = var.approval
  max_actions_per_hour = var.max_per_hour
}
