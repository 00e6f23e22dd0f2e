# cordon starter configuration.
#
# A rule for every family of Amazon GuardDuty findings, whether they come
# straight from GuardDuty or through Security Hub, and one for the rest:
#
#   ec2_compromise             EC2 instances (…:EC2/*, Malware Protection's
#                              volume scans included): tag, protect, isolate,
#                              snapshot, stop and notify, depending on the verdict;
#                              the memory is acquired before any stop
#   runtime_threat             what runs on hosts and in ECS and EKS containers
#                              (*:Runtime/*, Malware Protection's container scans):
#                              the host contained as above where there is one,
#                              notify otherwise
#   kubernetes_threat          EKS audit logs (*:Kubernetes/*): notify; deny the
#                              IAM principal of a caller on a threat list
#   rds_threat                 RDS and Aurora logins (*:RDS/*): notify
#   lambda_threat              Lambda functions (*:Lambda/*): notify
#   s3_exposure                exposed or abused buckets (*:S3/*): notify; disable
#                              the key of a caller on a threat list
#   s3_malware                 Malware Protection for S3 (Object:S3/*): notify
#   backup_malware             Malware Protection for Backup (…MaliciousFile!Snapshot,
#                              !AMI, !RecoveryPoint): notify
#   iam_credential_compromise  stolen or misused credentials (*:IAMUser/*):
#                              disable the key, deny its user or role, notify
#   attack_sequence            Extended Threat Detection (AttackSequence:*):
#                              contain the keys, principals and instances the
#                              sequence names, notify
#   unhandled_high_severity    any high or critical finding of a type no rule
#                              above takes: notify
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
#
# Three variables are empty until you set them, and validate warns until
# you do: webhook_url (where notifications go), and evidence_bucket,
# memory_tool_s3_uri and memory_tool_sha256 (where memory images go, and
# the acquisition tool). Until memory can be acquired, no instance is
# stopped: the plan withholds the stop and says why.

cordon {
  policy_paths = ["rego"]

  state {
    backend = "sqlite"
    path    = ".cordon/state.db"
  }

  # Where evidence goes. Instances upload their memory images straight to
  # this bucket, through URLs cordon signs; keep it in an account of its
  # own (a security account whose bucket policy lets the responder role
  # write), where the attacker's credentials cannot reach it.
  # require_object_lock refuses a bucket without S3 Object Lock, so no one
  # deletes or overwrites an image before its retention ends.
  evidence {
    bucket              = var.evidence_bucket
    prefix              = "cordon"
    require_object_lock = true
    # Copy every snapshot into a forensic account, re-encrypted under its
    # key (the README's Evidence section lists the grants it needs):
    # forensic_account = "444455556666"
    # kms_key_id       = "arn:aws:kms:us-west-2:444455556666:key/…"
  }
}

variable "isolation_sg" {
  type = string
  # Empty: cordon finds, or creates once, a cordon-isolation group without
  # rules in each VPC it isolates instances in.
  default     = ""
  description = "Security group without inbound or outbound rules to isolate instances with, when they all are in its VPC; empty (the default) for a cordon-isolation group cordon keeps in each VPC. Set it with -var 'isolation_sg=sg-…' or CORDON_VAR_isolation_sg."
}

variable "webhook_url" {
  type = string
  # Empty until you set it: validate and plan warn that action notify is
  # not configured, and apply skips it (the rest of the response runs).
  default     = ""
  description = "Where incident notifications are POSTed. Set it with CORDON_VAR_webhook_url, so the URL and any token in it stay out of the repository."
  # Never written to plan files, state, logs or output: shown as
  # (sensitive value). Apply takes it from CORDON_VAR_webhook_url again.
  sensitive = true
}

variable "evidence_bucket" {
  type = string
  # Empty until you set it: collector memory is not configured, so no
  # instance is stopped (the plan withholds the stop and says why).
  default     = ""
  description = "S3 bucket, with Object Lock, that instances upload their memory images to. Set it with CORDON_VAR_evidence_bucket or -var."
}

variable "memory_tool_s3_uri" {
  type = string
  # Empty until you set it, as evidence_bucket.
  default     = ""
  description = "Where instances download AVML from to acquire their memory: s3://BUCKET/KEY of a release binary you have checked and copied there. Set it with CORDON_VAR_memory_tool_s3_uri or -var."
}

variable "memory_tool_sha256" {
  type = string
  # Empty until you set it, as evidence_bucket.
  default     = ""
  description = "SHA-256 of that binary (sha256sum prints it): hosts refuse to run any other. Set it with CORDON_VAR_memory_tool_sha256 or -var."
}

locals {
  # GuardDuty finding types, by family. Security Hub's copies of GuardDuty
  # findings ("TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS") are
  # normalized back to these names, so they match too.
  # EC2 by its threat purposes rather than "*:EC2/*", which would take
  # AttackSequence:EC2/… too.
  ec2_types = [
    "Backdoor:EC2/*", "Behavior:EC2/*", "CredentialAccess:EC2/*", "CryptoCurrency:EC2/*",
    "DefenseEvasion:EC2/*", "Execution:EC2/*", "Impact:EC2/*", "Recon:EC2/*", "Trojan:EC2/*",
    "UnauthorizedAccess:EC2/*",
  ]

  # Runtime Monitoring, and Malware Protection's scans of container
  # workloads: both are about what runs in a container or on its host.
  container_malware_types = ["Execution:Kubernetes/MaliciousFile", "Execution:Kubernetes/SuspiciousFile"]
  runtime_types = concat(
    ["*:Runtime/*", "Execution:ECS/*", "Execution:Container/*"],
    local.container_malware_types,
  )

  kubernetes_types = ["*:Kubernetes/*"]
  rds_types        = ["*:RDS/*"]
  lambda_types     = ["*:Lambda/*"]

  # Every S3 purpose but Malware Protection's Object:S3, which s3_malware
  # takes.
  s3_types = [
    "Policy:S3/*", "UnauthorizedAccess:S3/*", "Exfiltration:S3/*", "Discovery:S3/*",
    "PenTest:S3/*", "Impact:S3/*", "Stealth:S3/*",
  ]
  s3_malware_types = ["Object:S3/*"]
  # Malware Protection for Backup: malware in an EBS snapshot, an AMI or an
  # AWS Backup recovery point. Execution:EC2/* takes the EC2 ones by type
  # too, but ec2_compromise's scope (instances) never admits a backup.
  backup_malware_types = [
    "Execution:EC2/MaliciousFile!Snapshot", "Execution:EC2/MaliciousFile!AMI",
    "Execution:EC2/MaliciousFile!RecoveryPoint", "Execution:S3/MaliciousFile!RecoveryPoint",
  ]
  iam_types             = ["*:IAMUser/*"]
  attack_sequence_types = ["AttackSequence:*"]

  # The catch-all takes what no rule above takes by type. Rules match
  # independently (all that match apply), so "no other rule" is said by
  # type: the union of the types above, as regular expressions (the globs'
  # "." escaped, "*" any run of characters, "?" one), which the catch-all's
  # condition tests the finding's type against. A rule added above joins by
  # adding its types here.
  handled_types = concat(
    local.ec2_types, local.runtime_types, local.kubernetes_types, local.rds_types,
    local.lambda_types, local.s3_types, local.s3_malware_types, local.backup_malware_types,
    local.iam_types, local.attack_sequence_types,
  )
  handled_type_patterns = [
    for g in local.handled_types : format("^%s$", replace(replace(replace(g, ".", "\\."), "?", "."), "*", ".*"))
  ]
  # One pattern for all: a finding's type is tested against it once, not
  # against each pattern in turn.
  handled_types_regex = join("|", [for p in local.handled_type_patterns : format("(?:%s)", p)])

  # The resource types cordon has actions for: every other resource is
  # only ever reported (scope.other_resources).
  actionable_types = ["aws_instance", "aws_iam_access_key", "aws_iam_user", "aws_iam_role"]
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

scope "container_workloads" {
  description = "ECS and EKS clusters, tasks, services, pods and containers that Runtime Monitoring reports without an EC2 host (AWS Fargate)"
  resource_types = [
    "aws_ecs_cluster", "aws_ecs_task", "aws_ecs_service", "aws_eks_cluster", "container",
    "kubernetes_pod", "kubernetes_deployment", "kubernetes_daemonset", "kubernetes_stateful_set",
    "kubernetes_job", "kubernetes_cron_job", "kubernetes_workload",
  ]
}

scope "eks_clusters" {
  description    = "EKS clusters (audit log findings)"
  resource_types = ["aws_eks_cluster"]
}

scope "backups" {
  description    = "EBS snapshots, AMIs and AWS Backup recovery points (Malware Protection for Backup)"
  resource_types = ["aws_ebs_snapshot", "aws_ami", "aws_backup_recovery_point"]
}

scope "db_instances" {
  description    = "RDS and Aurora database instances"
  resource_types = ["aws_db_instance"]
}

scope "lambda_functions" {
  description    = "Lambda functions"
  resource_types = ["aws_lambda_function"]
}

# Any resource cordon has no action for (buckets, clusters, databases,
# functions, network interfaces …), except those tagged cordon:exempt: a
# rule may report findings about it, and can never act on it, since the
# resources actions take (instances, keys, users, roles) are left to their
# own scopes by the condition.
scope "other_resources" {
  description  = "Any resource but instances, access keys, users and roles, except those tagged cordon:exempt = \"true\""
  exclude_tags = { "cordon:exempt" = "true" }
  condition    = resource.id != "" && !contains(local.actionable_types, resource.type)
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

# The instance's memory (running processes, injected code, keys, live
# connections), which a stop destroys: SSM Run Command has the host fetch
# AVML, check its SHA-256 against the pinned one, capture its memory and
# upload the image to the evidence bucket, where S3 checks the image's
# SHA-256. A rule that collects it never stops an instance before S3 has
# confirmed its image: where acquisition fails (no SSM agent, no disk
# room, a timeout, a tampered tool), the plan withholds the stop and says
# why, and the rest of the response goes ahead. Like every collector it
# runs before the verdict, for each finding its rules take: narrow their
# finding_types or min_severity if that is more than you want to keep.
# For Windows instances, add windows_tool_s3_uri and windows_tool_sha256
# (WinPmem).
collector "memory" {
  type        = "aws_ssm_memory"
  tool_s3_uri = var.memory_tool_s3_uri
  tool_sha256 = var.memory_tool_sha256
  timeout     = "20m"
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
  finding_types = local.ec2_types
  # Low, so an inbound brute force is looked at too: GuardDuty rates it low
  # whether or not it succeeded, and the triage tells which.
  min_severity = "low"
  collect      = [collector.describe, collector.triage, collector.memory]
  verdict      = "cordon.ec2.verdict"
  response     = "cordon.ec2.response"
  actions = [
    action.tag, action.protect, action.isolate, action.detach, action.deregister,
    action.snapshot, action.stop, action.notify,
  ]
  approval             = "auto"
  max_actions_per_hour = 100
}

# A container finding has the EC2 host as its resource where GuardDuty
# names one (resource.details.container says which container): isolating
# the host contains every container on it, which is all cordon can do, so
# the response is the EC2 one. On Fargate the resource is the cluster,
# which no action takes: the response only notifies.
rule "runtime_threat" {
  description   = "Contain the hosts of compromised containers and instances; report the rest"
  scopes        = [scope.ec2_instances, scope.container_workloads]
  finding_types = local.runtime_types
  min_severity  = "low"
  collect       = [collector.describe, collector.triage, collector.memory]
  verdict       = "cordon.runtime.verdict"
  response      = "cordon.ec2.response"
  actions = [
    action.tag, action.protect, action.isolate, action.detach, action.deregister,
    action.snapshot, action.stop, action.notify,
  ]
  approval             = "auto"
  max_actions_per_hour = 100
}

rule "kubernetes_threat" {
  description   = "Report Kubernetes API abuse; deny the IAM principal of a caller on a threat list"
  scopes        = [scope.eks_clusters, scope.iam_principals]
  finding_types = local.kubernetes_types
  # Malware Protection's scans of EKS workloads are about files in a
  # container: runtime_threat takes them.
  condition    = !contains(local.container_malware_types, finding.type)
  min_severity = "low"
  verdict      = "cordon.kubernetes.verdict"
  response     = "cordon.kubernetes.response"
  actions      = [action.deny_all, action.disable_key, action.notify]
  approval     = "auto"
  # Denying a cluster's operators or nodes breaks it: a burst needs a human.
  max_actions_per_hour = 30
}

rule "rds_threat" {
  description   = "Report distrusted logins to RDS and Aurora databases"
  scopes        = [scope.db_instances]
  finding_types = local.rds_types
  min_severity  = "low"
  verdict       = "cordon.rds.verdict"
  response      = "cordon.notify.response"
  actions       = [action.notify]
  approval      = "auto"
}

rule "lambda_threat" {
  description   = "Report Lambda functions talking to distrusted endpoints"
  scopes        = [scope.lambda_functions]
  finding_types = local.lambda_types
  min_severity  = "low"
  verdict       = "cordon.lambda.verdict"
  response      = "cordon.notify.response"
  actions       = [action.notify]
  approval      = "auto"
}

rule "s3_exposure" {
  description = "Report exposed or abused buckets; contain the key of a caller on a threat list"
  # The bucket matches; the caller's key, user or role are targets, which
  # iam_principals admits.
  scopes        = [scope.s3_buckets, scope.iam_principals]
  finding_types = local.s3_types
  min_severity  = "low"
  collect       = [collector.trail]
  verdict       = "cordon.s3.verdict"
  response      = "cordon.s3.response"
  actions       = [action.disable_key, action.deny_all, action.notify]
  approval      = "auto"
  # As for credentials: a burst is more likely a detector problem.
  max_actions_per_hour = 30
}

rule "s3_malware" {
  description   = "Report malware uploaded to buckets Malware Protection for S3 scans"
  scopes        = [scope.s3_buckets]
  finding_types = local.s3_malware_types
  min_severity  = "low"
  verdict       = "cordon.s3_malware.verdict"
  response      = "cordon.notify.response"
  actions       = [action.notify]
  approval      = "auto"
}

# cordon has no action on backups: restoring from a clean one, and
# unsharing or deleting the infected one, are a person's to do, and the
# notification says how.
rule "backup_malware" {
  description   = "Report malware found in EBS snapshots, AMIs and AWS Backup recovery points"
  scopes        = [scope.backups]
  finding_types = local.backup_malware_types
  min_severity  = "low"
  verdict       = "cordon.backup_malware.verdict"
  response      = "cordon.notify.response"
  actions       = [action.notify]
  approval      = "auto"
}

# min_severity is low: root credentials used, logging turned off and the
# password policy weakened are low-severity findings a person should still
# hear about.
rule "iam_credential_compromise" {
  description   = "Contain credentials used by someone other than their owner"
  scopes        = [scope.iam_principals]
  finding_types = local.iam_types
  min_severity  = "low"
  collect       = [collector.trail]
  verdict       = "cordon.iam.verdict"
  response      = "cordon.iam.response"
  actions       = [action.disable_key, action.deny_all, action.notify]
  approval      = "auto"
  # Containing credentials breaks what legitimately uses them: a burst of
  # these is more likely a detector problem than an attack, and needs a human.
  max_actions_per_hour = 30
}

# An attack sequence's resource is the first one it names; the others are
# in finding.resources. Its scopes admit whatever it may lead with, and
# admit as targets only instances, keys, users and roles, through their own
# scopes.
rule "attack_sequence" {
  description   = "Contain what an attack sequence names: keys, principals, instances; report it"
  scopes        = [scope.ec2_instances, scope.iam_principals, scope.other_resources]
  finding_types = local.attack_sequence_types
  min_severity  = "low"
  verdict       = "cordon.attack_sequence.verdict"
  response      = "cordon.attack_sequence.response"
  # No tag: tagging is also an action on users and roles, which this
  # rule's scopes hold, and cordon iam-policy would grant it for them.
  actions = [
    action.protect, action.isolate, action.snapshot, action.disable_key, action.deny_all,
    action.notify,
  ]
  approval             = "auto"
  max_actions_per_hour = 30
}

# The catch-all: a person hears about every high or critical finding no
# rule above takes (a type GuardDuty added since, a Custom Detection Rules
# finding, another product's finding through Security Hub or OCSF). It
# only notifies. A finding of a handled type is left to its rule even when
# that rule's scopes do not admit its resource (an instance tagged
# cordon:exempt): the plan's near misses say why it was not matched.
rule "unhandled_high_severity" {
  description  = "Report any high or critical finding of a type no other rule takes"
  scopes       = [scope.ec2_instances, scope.iam_principals, scope.other_resources]
  min_severity = "high"
  condition    = !can(regex(local.handled_types_regex, finding.type))
  verdict      = "cordon.unhandled.verdict"
  response     = "cordon.notify.response"
  actions      = [action.notify]
  approval     = "auto"
}
