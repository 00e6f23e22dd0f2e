# cordon starter configuration.
#
# Three automation rules respond to Amazon GuardDuty findings, whether they
# come straight from GuardDuty or through Security Hub:
#
#   ec2_compromise             a compromised EC2 instance: tag, protect, isolate,
#                              snapshot, stop and notify, depending on the verdict
#   iam_credential_compromise  stolen or misused credentials: disable the key,
#                              deny its user or role, notify
#   s3_exposure                an exposed or abused bucket: notify
#
# Scopes say where automation may act, rules say when, collectors and actions
# say what it may do. Whether a finding is malicious and which of the allowed
# actions to take is decided by the Rego policies under rego/ (with their
# unit tests); testdata/ holds recorded findings and facts to try them on:
#
#   cordon validate
#   cordon test
#   cordon plan -finding testdata/findings/ec2_cryptocurrency_bitcointool_dns.json \
#               -facts testdata/facts/ec2_cryptominer.json

cordon {
  policy_paths = ["rego"]

  state {
    backend = "sqlite"
    path    = ".cordon/state.db"
  }
}

variable "isolation_sg" {
  type        = string
  default     = "sg-0isolation"
  description = "Security group with no inbound or outbound rules, in each VPC cordon isolates instances in. Set it with -var 'isolation_sg=sg-…' or CORDON_VAR_isolation_sg."
}

variable "webhook_url" {
  type        = string
  default     = "https://hooks.example.com/cordon"
  description = "Where incident notifications are POSTed (a placeholder until set). Set it with CORDON_VAR_webhook_url, so the URL and any token in it stay out of the repository."
  # Never written to plan files, state, logs or output: shown as
  # (sensitive value). Apply takes it from CORDON_VAR_webhook_url again.
  sensitive = true
}

locals {
  # GuardDuty finding types. Security Hub's copies of GuardDuty findings
  # ("TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS") are
  # normalized back to these names, so they match too.
  ec2_compromise_types = [
    "Backdoor:EC2/*", "CryptoCurrency:EC2/*", "Trojan:EC2/*", "UnauthorizedAccess:EC2/*",
    "Execution:Runtime/*", "Backdoor:Runtime/*", "CryptoCurrency:Runtime/*", "Trojan:Runtime/*",
  ]

  iam_credential_types = [
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration*",
    "*:IAMUser/AnomalousBehavior",
    "*:IAMUser/MaliciousIPCaller*",
    "*:IAMUser/TorIPCaller",
  ]

  s3_types = [
    "Policy:S3/*", "UnauthorizedAccess:S3/*", "Exfiltration:S3/*", "Discovery:S3/*",
    "PenTest:S3/*", "Impact:S3/*",
  ]
}

# Actions run in the finding's account and region. Without a provider block
# the SDK's default credential chain is used. To respond across accounts,
# assume a role in each:
#
# provider "aws" {
#   region          = "us-west-2"
#   assume_role_arn = "arn:aws:iam::{account}:role/CordonResponder"
#   # endpoint      = "http://127.0.0.1:4566"   # the cordon emulator
# }

# ---------------------------------------------------------------------------
# Scopes: where automation may act

scope "ec2_instances" {
  description    = "Every EC2 instance, except those tagged cordon:exempt = \"true\""
  resource_types = ["aws_instance"]
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "iam_principals" {
  description    = "IAM access keys, users and roles"
  resource_types = ["aws_iam_access_key", "aws_iam_user", "aws_iam_role"]
}

scope "s3_buckets" {
  description    = "S3 buckets"
  resource_types = ["aws_s3_bucket"]
}

# ---------------------------------------------------------------------------
# Collectors: what the policies get to see

collector "describe" {
  type = "aws_ec2_describe"
}

collector "triage" {
  type    = "aws_ssm_triage"
  timeout = "3m"
}

collector "trail" {
  type     = "aws_cloudtrail_events"
  lookback = "24h"
}

# ---------------------------------------------------------------------------
# Actions: what automation may do

action "tag" {
  type = "aws_ec2_tag"
  tags = {
    "cordon:incident" = "{incident}"
    "cordon:status"   = "under-investigation"
  }
}

action "protect" {
  type = "aws_ec2_termination_protection"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.isolation_sg
}

# A stopped instance fails its auto scaling health check and is terminated:
# the response detaches auto scaling members before stopping them.
action "detach" {
  type = "aws_autoscaling_detach"
}

action "deregister" {
  type = "aws_elb_deregister"
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

action "deny_all" {
  type = "aws_iam_deny_all"
}

action "notify" {
  type = "webhook"
  url  = var.webhook_url
}

# ---------------------------------------------------------------------------
# Rules: when automation runs

rule "ec2_compromise" {
  description   = "Contain EC2 instances that malware, miners or intruders run on"
  scopes        = [scope.ec2_instances]
  finding_types = local.ec2_compromise_types
  # Low, so an inbound brute force is looked at too: GuardDuty rates it low
  # whether or not it succeeded, and the triage tells which.
  min_severity = "low"
  collect      = [collector.describe, collector.triage]
  verdict      = "cordon.ec2.verdict"
  response     = "cordon.ec2.response"
  actions = [
    action.tag, action.protect, action.isolate, action.detach, action.deregister,
    action.snapshot, action.stop, action.notify,
  ]
  approval             = "auto"
  max_actions_per_hour = 100
}

rule "iam_credential_compromise" {
  description   = "Contain credentials used by someone other than their owner"
  scopes        = [scope.iam_principals]
  finding_types = local.iam_credential_types
  min_severity  = "medium"
  collect       = [collector.trail]
  verdict       = "cordon.iam.verdict"
  response      = "cordon.iam.response"
  actions       = [action.disable_key, action.deny_all, action.notify]
  approval      = "auto"
  # Containing credentials breaks what legitimately uses them: a burst of
  # these is more likely a detector problem than an attack, and needs a human.
  max_actions_per_hour = 30
}

rule "s3_exposure" {
  description   = "Report buckets exposed by policy changes or accessed by distrusted callers"
  scopes        = [scope.s3_buckets]
  finding_types = local.s3_types
  min_severity  = "low"
  collect       = [collector.trail]
  verdict       = "cordon.s3.verdict"
  response      = "cordon.s3.response"
  actions       = [action.notify]
  approval      = "auto"
}
