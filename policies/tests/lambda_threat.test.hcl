# Scenario tests of rule lambda_threat: Lambda Protection findings are
# reported, with what to do by hand; cordon has no action on functions.

run "command_and_control_is_reported" {
  finding = "testdata/findings/lambda_cnc_activity.json"

  expect {
    verdict = "malicious"
    rules   = ["lambda_threat"]
    actions = ["action.notify[\"invoice-renderer\"]"]
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty: address 203.0.113.45:443 is on threat list ProofPoint (Mirai)")
    error_message = "the verdict names the threat list"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[0].reasons[0], "aws lambda put-function-concurrency --function-name invoice-renderer --reserved-concurrent-executions 0")
    error_message = "the notification says how to stop the function"
  }
}

run "tor_client_is_reported" {
  finding = "testdata/findings/lambda_tor_client.json"

  expect {
    verdict = "suspicious"
    rules   = ["lambda_threat"]
    actions = ["action.notify[\"invoice-renderer\"]"]
  }
}
