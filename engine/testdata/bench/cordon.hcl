# The configuration of BenchmarkPlanFinding's "small" case: one scope, one
# rule, one collector and small verdict and response packages, so the
# benchmark measures the engine's own overhead around two evaluations.

scope "instances" {
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

collector "describe" {
  type = "aws_ec2_describe"
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

rule "ec2_backdoor" {
  scopes        = [scope.instances]
  finding_types = ["Backdoor:EC2/*", "CryptoCurrency:EC2/*"]
  min_severity  = "medium"
  collect       = [collector.describe]
  actions       = [action.isolate, action.snapshot, action.stop]
}
