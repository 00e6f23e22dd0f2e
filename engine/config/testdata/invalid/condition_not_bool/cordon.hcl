scope "prod_web" {}

rule "ec2" {
  scopes    = [scope.prod_web]
  condition = finding.count
}
