scope "web" {
  regions = ["us-west-2"]
}

scope "web" {
  regions = ["eu-west-1"]
}
