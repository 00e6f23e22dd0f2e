# A configuration using every block and attribute of docs/configuration.md.

cordon {
  policy_paths = ["policies"]
  state {
    backend = "postgres"
    path    = ".cordon/state.db"
    dsn     = env("CORDON_PG_DSN")
  }
}

variable "isolation_sg" {
  type        = string
  default     = "sg-0e1f2a3b4c5d6e7f8"
  description = "Security group with no rules, used to isolate instances"
}

variable "watched_ports" {
  type    = list(number)
  default = [22, 3389]
}

variable "owner" {
  type = object({
    team  = string
    pager = optional(string, "none")
  })
  default = { team = "secops" }
}

variable "webhook_url" {
  description = "No type: any value, taken literally from -var"
  default     = "https://hooks.example.com/cordon"
}

locals {
  prod_accounts = ["111111111111", "222222222222"]
}

provider "aws" {
  region          = "us-west-2"
  profile         = "ir"
  endpoint        = "http://127.0.0.1:4566"
  assume_role_arn = "arn:aws:iam::{account}:role/CordonResponder"
}

scope "prod_web" {
  description    = "Production web tier"
  accounts       = local.prod_accounts
  regions        = ["us-west-2", "eu-*"]
  resource_types = ["aws_instance"]
  tags           = { Environment = "prod", Role = "web*" }
  exclude_tags   = { "cordon:exempt" = "true" }
  condition      = resource.details.public_ip != null
}

scope "anywhere" {}

collector "describe" { type = "aws_ec2_describe" }

collector "triage" {
  type     = "aws_ssm_triage"
  timeout  = "3m"
  required = true
}

collector "evidence" {
  type = "file"
  path = "facts/evidence.json"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.isolation_sg
}
action "snapshot" { type = "aws_ec2_snapshot" }
action "stop" { type = "aws_ec2_stop" }
action "notify" {
  type = "webhook"
  url  = var.webhook_url
  headers = {
    X-Team = local.owner_team
  }
}
action "tag" {
  type = "aws_ec2_tag"
  tags = { "cordon:owner" = local.owner_team, "cordon:pager" = var.owner.pager }
}

rule "ec2_compromise" {
  description          = "Triage compromised production web instances"
  scopes               = [scope.prod_web]
  sources              = ["guardduty", "securityhub"]
  finding_types        = ["Backdoor:EC2/*", "CryptoCurrency:EC2/*"]
  min_severity         = "medium"
  condition            = finding.count >= 1 && contains(var.watched_ports, coalesce(finding.network.local_port, 0)) == false
  collect              = [collector.describe, collector.triage]
  verdict              = "cordon.verdict"
  response             = "cordon.response"
  actions              = [action.isolate, action.snapshot, action.stop, action.notify]
  approval             = "auto"
  max_actions_per_hour = 50
  enabled              = true
}
