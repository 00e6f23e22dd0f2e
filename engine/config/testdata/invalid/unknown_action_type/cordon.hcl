action "isolate" {
  type = "aws_ec2_isolation"
}
