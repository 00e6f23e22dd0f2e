# The near-miss tests (docs/plan-and-apply.md's unmatched list): every rule takes the
# demo fleet's web-1 finding (CryptoCurrency:EC2/BitcoinTool.B!DNS, high,
# an aws_instance in 123456789012/us-west-2 tagged Name = "web-1",
# Environment = "prod", Team = "storefront"), and each misses it for one
# reason, or several.

cordon {
  policy_paths = ["policies"]
}

variable "exempt_tag" {
  type    = string
  default = "prod"
}

scope "keys" {
  resource_types = ["aws_iam_access_key", "aws_iam_user"]
}

scope "europe" {
  resource_types = ["aws_instance"]
  regions        = ["eu-*"]
}

scope "other_account" {
  accounts = ["999999999999", "888888888888"]
}

scope "staging" {
  tags = { Environment = "staging", Owner = "*" }
}

scope "prod_exempt" {
  exclude_tags = { Environment = var.exempt_tag }
}

scope "public" {
  resource_types = ["aws_instance"]
  condition      = resource.details.public_ip == "192.0.2.1"
}

scope "anywhere" {
}

action "notify" {
  type = "webhook"
  url  = "https://hooks.example.com/cordon"
}

rule "wrong_type" {
  scopes  = [scope.keys]
  actions = [action.notify]
}

rule "wrong_region" {
  scopes        = [scope.europe]
  finding_types = ["CryptoCurrency:EC2/*"]
  actions       = [action.notify]
}

rule "elsewhere" {
  scopes  = [scope.other_account, scope.staging]
  actions = [action.notify]
}

rule "exempt" {
  scopes  = [scope.prod_exempt]
  actions = [action.notify]
}

rule "conditioned" {
  scopes  = [scope.public]
  actions = [action.notify]
}

rule "critical_only" {
  scopes       = [scope.anywhere]
  min_severity = "critical"
  actions      = [action.notify]
}

rule "disabled" {
  scopes  = [scope.anywhere]
  enabled = false
  actions = [action.notify]
}

rule "rule_condition" {
  scopes    = [scope.anywhere]
  condition = finding.count > 100
  actions   = [action.notify]
}

# Not near: another source, another type.
rule "security_hub_only" {
  scopes  = [scope.anywhere]
  sources = ["securityhub"]
  actions = [action.notify]
}

rule "iam_types" {
  scopes        = [scope.anywhere]
  finding_types = ["*:IAMUser/*"]
  actions       = [action.notify]
}
