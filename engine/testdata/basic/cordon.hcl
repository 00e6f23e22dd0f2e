# A small configuration exercising the engine's matching and planning
# semantics: two rules on instances (one of them for high severity only,
# sharing the tag action so the merge shows), one on access keys, one
# disabled, and a scope condition.

cordon {
  policy_paths = ["policies"]
}

variable "isolation_sg" {
  type    = string
  default = "sg-0e1f2a3b4c5d6e7f8"
}

scope "instances" {
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "public_instances" {
  resource_types = ["aws_instance"]
  condition      = resource.details.public_ip != null
}

scope "keys" {
  resource_types = ["aws_iam_access_key"]
}

collector "describe" {
  type = "aws_ec2_describe"
}

action "tag" {
  type = "aws_ec2_tag"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.isolation_sg
}

action "snapshot" {
  type = "aws_ec2_snapshot"
}

action "stop" {
  type = "aws_ec2_stop"
}

action "disable_key" {
  type = "aws_iam_disable_access_key"
}

action "notify" {
  type = "webhook"
  url  = "https://hooks.example.com/cordon/T0KEN"
}

rule "ec2_backdoor" {
  scopes        = [scope.instances]
  sources       = ["guardduty", "securityhub"]
  finding_types = ["Backdoor:EC2/*", "CryptoCurrency:EC2/*"]
  min_severity  = "medium"
  collect       = [collector.describe]
  verdict       = "test.verdict"
  response      = "test.response"
  actions       = [action.tag, action.isolate, action.snapshot, action.stop, action.notify]
}

rule "public_high" {
  scopes       = [scope.public_instances]
  min_severity = "high"
  verdict      = "test.verdict"
  response     = "test.tag_only"
  actions      = [action.tag]
  approval     = "manual"
}

rule "keys" {
  scopes        = [scope.keys]
  finding_types = ["*:IAMUser/*"]
  verdict       = "test.verdict"
  response      = "test.response"
  actions       = [action.disable_key, action.notify]
}

rule "never" {
  scopes  = [scope.instances]
  enabled = false
  verdict = "test.verdict"
  response = "test.response"
  actions = [action.stop]
}
