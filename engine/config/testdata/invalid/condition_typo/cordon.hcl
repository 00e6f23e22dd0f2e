scope "prod_web" {
  condition = resource.detials.public_ip != null
}

rule "ec2" {
  scopes    = [scope.prod_web]
  condition = finding.severty == "high"
}
