# The sample finding tests (docs/findings.md: a sample finding never plans an
# action that changes anything unless its rule opts in). Two rules on
# instances share the tag action: respond never opts in; exercise opts in
# when var.allow_samples is true and alone plans the snapshot.

cordon {
  policy_paths = ["policies"]
}

variable "allow_samples" {
  type    = bool
  default = false
}

variable "respond_limit" {
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

action "snapshot" {
  type = "aws_ec2_snapshot"
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

rule "exercise" {
  scopes                = [scope.instances]
  verdict               = "test.verdict"
  response              = "test.response"
  actions               = [action.tag, action.snapshot]
  allow_sample_findings = var.allow_samples
}
