action "notify" {
  type = "webhook"
  url  = trimspace(file("webhook_url.txt"))
}
