# A rule whose collector acquires the instance's memory (aws_ssm_memory)
# before it is stopped: scripts/measure-memory-acquisition plans it
# against `cordon emulator` to measure what the acquisition costs cordon.
# The script adds the provider block (the emulator's endpoint) and gives
# tool_sha256.

cordon {
  policy_paths = ["policies"]

  evidence {
    bucket = "cordon-evidence-measure"
    prefix = "memory"
  }
}

variable "tool_sha256" {
  type = string
}

scope "instances" {
  resource_types = ["aws_instance"]
}

collector "memory" {
  type        = "aws_ssm_memory"
  tool_s3_uri = "s3://cordon-tools-measure/avml/avml-stand-in"
  tool_sha256 = var.tool_sha256
  timeout     = "15m"
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
