action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = "web"
}
