variable "isolation_sg" {
  type = string
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.isolation_sg
}
