action "notify" {
  type = "webhook"
  url  = "https://hooks.example.com/${finding.id}"
}
