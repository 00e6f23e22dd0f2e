# The configuration the test runner's fixtures test: one rule on instances,
# and one on access keys whose response names an action the rule does not
# allow, so that its plan fails (a scenario expects that).
#
# Each fixture directory (pass, fail, invalid, empty) adds test files to
# this one; the Go tests lay the two over each other.

cordon {
  policy_paths = ["policies"]
}

variable "isolation_sg" {
  type    = string
  default = "sg-0e1f2a3b4c5d6e7f8"
}

scope "instances" {
  resource_types = ["aws_instance"]
}

scope "keys" {
  resource_types = ["aws_iam_access_key"]
}

collector "triage" {
  type = "aws_ssm_triage"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.isolation_sg
}

action "stop" {
  type = "aws_ec2_stop"
}

action "notify" {
  type = "webhook"
  url  = "https://hooks.example.com/cordon"
}

rule "instances" {
  scopes   = [scope.instances]
  collect  = [collector.triage]
  verdict  = "fixture.verdict"
  response = "fixture.response"
  actions  = [action.isolate, action.stop, action.notify]
}

rule "keys" {
  scopes   = [scope.keys]
  verdict  = "fixture.verdict"
  response = "fixture.response"
  actions  = [action.notify]
}
