collector "describe" {
  type = "aws_ec2_descibe"
}
