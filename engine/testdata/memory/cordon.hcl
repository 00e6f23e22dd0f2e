# A rule that acquires an instance's memory and then stops it (docs/collectors.md):
# the memory tests plan and apply it against the emulator, whose hosts
# play the acquisition back.

cordon {
  policy_paths = ["policies"]

  evidence {
    bucket = "cordon-evidence-test"
    prefix = "memory"
  }
}

variable "tool_sha256" {
  type = string
}

variable "memory_timeout" {
  type    = string
  default = "60s"
}

scope "instances" {
  resource_types = ["aws_instance"]
}

collector "memory" {
  type        = "aws_ssm_memory"
  tool_s3_uri = "s3://cordon-tools-test/avml/avml-0.14.0"
  tool_sha256 = var.tool_sha256
  timeout     = var.memory_timeout
}

action "tag" {
  type = "aws_ec2_tag"
}

action "stop" {
  type = "aws_ec2_stop"
  wait = "30s"
}

rule "compromised" {
  scopes   = [scope.instances]
  collect  = [collector.memory]
  actions  = [action.tag, action.stop]
  verdict  = "cordon.memory"
  response = "cordon.memory"
}
