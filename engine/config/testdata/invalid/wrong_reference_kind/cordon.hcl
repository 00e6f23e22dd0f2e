scope "prod_web" {}
collector "describe" { type = "aws_ec2_describe" }

rule "ec2" {
  scopes  = [collector.describe]
  collect = [collector.describe, "describe"]
}
