scope "prod_web" {
  accounts = ["111111111111", "1234", "22222222222x"]
}
