scope "prod_web" {
  regions = ["us-west-2"
}
