# A second file: blocks and locals may be spread over files.

locals {
  owner_team = var.owner.team
  banner     = trimspace(file("banner.txt"))
  loud       = upper(local.banner)
}

rule "audit_everything" {
  scopes               = [scope.anywhere, scope.prod_web]
  collect              = [collector.evidence]
  actions              = [action.tag, action.notify]
  verdict              = "audit.verdict"
  response             = "audit.response"
  approval             = "manual"
  max_actions_per_hour = 0
  enabled              = false
  condition            = startswith(finding.type, "Recon:") || lookup(resource.tags, "Audit", "no") == "yes"
}
