scope "prod_web" {}

rules "ec2" {
  scopes = [scope.prod_web]
}
