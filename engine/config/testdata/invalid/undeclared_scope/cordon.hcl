scope "prod_web" {}
scope "staging" {}

rule "ec2" {
  scopes = [scope.staging, scope.prod_wbe]
}
