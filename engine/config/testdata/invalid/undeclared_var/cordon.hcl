variable "isolation_sg" {
  type    = string
  default = "sg-0isolation"
}

action "isolate" {
  type              = "aws_ec2_isolate"
  security_group_id = var.isolaton_sg
}
