# A container runtime finding (GuardDuty Runtime Monitoring) meets an EC2
# rule: the host the container runs on is the primary resource, so a rule
# scoped to instances matches, and its response isolates the host.

cordon {
  policy_paths = ["policies"]
}

scope "instances" {
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "ecs" {
  resource_types = ["aws_ecs_cluster"]
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "sg-0e1f2a3b4c5d6e7f8"
}

action "notify" {
  type = "webhook"
  url  = "https://hooks.example.com/cordon"
}

rule "ec2_runtime" {
  scopes        = [scope.instances]
  finding_types = ["Execution:Runtime/NewBinaryExecuted", "CryptoCurrency:Runtime/*"]
  # The container is in the host's details.
  condition = resource.details.container != null
  verdict   = "test.verdict"
  response  = "test.response"
  actions   = [action.isolate, action.notify]
}

rule "ecs_runtime" {
  scopes        = [scope.ecs]
  finding_types = ["Execution:Runtime/*"]
  verdict       = "test.verdict"
  response      = "test.response"
  actions       = [action.notify]
}
