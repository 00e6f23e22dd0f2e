# The max_actions_per_hour tests: two rules on instances share the tag
# action (so one planned action counts against both), and their limits
# are variables.

cordon {
  policy_paths = ["policies"]
}

variable "respond_limit" {
  type    = number
  default = 0
}

variable "tag_limit" {
  type    = number
  default = 0
}

scope "instances" {
  resource_types = ["aws_instance"]
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
}

action "notify" {
  type = "webhook"
  url  = "https://hooks.example.com/cordon"
}

rule "respond" {
  scopes               = [scope.instances]
  verdict              = "test.verdict"
  response             = "test.response"
  actions              = [action.tag, action.isolate, action.stop, action.notify]
  max_actions_per_hour = var.respond_limit
}

rule "tagger" {
  scopes               = [scope.instances]
  verdict              = "test.verdict"
  response             = "test.response"
  actions              = [action.tag]
  max_actions_per_hour = var.tag_limit
}
