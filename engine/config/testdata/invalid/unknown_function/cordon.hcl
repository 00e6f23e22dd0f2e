scope "prod_web" {
  condition = lowr(finding.title) == "x"
}

rule "ec2" {
  scopes    = [scope.prod_web]
  condition = finding.updated_at > timestamp()
}
