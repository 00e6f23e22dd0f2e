locals {
  a = "${local.b}-a"
  ok = "fine"
}

locals {
  b = "${local.c}-b"
  c = "${local.a}-c"
}
