variable "ports" {
  type    = list(number)
  default = ["ssh", 3389]
}

variable "sg" {
  type    = strin
  default = "x"
}
