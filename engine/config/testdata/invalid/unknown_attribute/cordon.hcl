scope "prod_web" {
  acounts = ["111111111111"]
}
