scope "prod_web" {
  resource_types = ["aws_instance", "aws_instnce"]
}
