# The out-of-scope tests (docs/configuration.md: every target of every planned action
# passes the scope of the rule that planned it). The finding, on an IAM
# access key, names two instances of the demo fleet: web-1 and ci-runner-3,
# which is tagged cordon:exempt. Each rule responds by stopping one of them
# through scopes that do or do not admit it.

cordon {
  policy_paths = ["policies"]
}

scope "keys" {
  resource_types = ["aws_iam_access_key", "aws_iam_user"]
}

scope "instances" {
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "not_platform" {
  resource_types = ["aws_instance"]
  condition      = lookup(resource.tags, "Team", "") != "platform"
}

scope "other_account" {
  accounts       = ["999999999999"]
  resource_types = ["aws_instance"]
}

action "stop" {
  type = "aws_ec2_stop"
}

action "disable_key" {
  type = "aws_iam_disable_access_key"
}

# A scope of IAM types only: no instance is in it.
rule "keys_only" {
  scopes   = [scope.keys]
  verdict  = "test.verdict"
  response = "test.stop_exempt"
  actions  = [action.stop]
}

# Instances, but not exempt ones.
rule "excluded" {
  scopes   = [scope.keys, scope.instances]
  verdict  = "test.verdict"
  response = "test.stop_exempt"
  actions  = [action.stop]
}

# Instances whose condition, seeing the target as resource, is false.
rule "conditioned" {
  scopes   = [scope.keys, scope.not_platform]
  verdict  = "test.verdict"
  response = "test.stop_exempt"
  actions  = [action.stop]
}

# Instances of another account only.
rule "elsewhere" {
  scopes   = [scope.keys, scope.other_account]
  verdict  = "test.verdict"
  response = "test.stop_web"
  actions  = [action.stop]
}

# web-1 is an instance the scope admits.
rule "admitted" {
  scopes   = [scope.keys, scope.instances]
  verdict  = "test.verdict"
  response = "test.stop_web"
  actions  = [action.stop]
}

# The primary resource passed the scope the rule matched through.
rule "primary" {
  scopes   = [scope.keys]
  verdict  = "test.verdict"
  response = "test.disable_key"
  actions  = [action.disable_key]
}
