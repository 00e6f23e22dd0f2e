scope "prod_web" {}

rule "ec2" {
  scopes               = [scope.prod_web]
  sources              = ["guardduty", "guarduty"]
  min_severity         = "hgh"
  approval             = "automatic"
  max_actions_per_hour = -1
  verdict              = "data.cordon.verdict"
  response             = "cordon response"
}
