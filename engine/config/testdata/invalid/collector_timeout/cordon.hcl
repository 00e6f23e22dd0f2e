collector "triage" {
  type    = "aws_ssm_triage"
  timeout = "3 minutes"
}

collector "trail" {
  type   = "aws_cloudtrail_events"
  timout = "1m"
}
