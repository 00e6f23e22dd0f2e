scope "prod_web" {}

rule "no_scopes" {
  scopes = []
}

rule "missing_scopes" {
  enabled = true
}

rule "computed_scopes" {
  scopes = concat([scope.prod_web])
}
