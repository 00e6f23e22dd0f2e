# The daemon's SQS source test: the daemon configuration's response
# (tag, isolate, stop, notify), with findings received from an SQS queue
# of the emulator as an EventBridge rule would deliver them, and no other
# input. The test sets the queue's URL.

variable "webhook_url" {
  type    = string
  default = "https://hooks.example.com/cordon"
}

variable "queue_url" {
  type = string
}

source "sqs" "findings" {
  queue_url          = var.queue_url
  wait               = "1s"
  visibility_timeout = "30s"
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
