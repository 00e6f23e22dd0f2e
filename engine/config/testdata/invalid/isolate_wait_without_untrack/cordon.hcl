action "isolate" {
  type         = "aws_ec2_isolate"
  untrack_wait = "10s"
}
