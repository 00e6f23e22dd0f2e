locals {
  accounts = ["111111111111"]
}

locals {
  accounts = ["222222222222"]
}
