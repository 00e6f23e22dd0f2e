# Scenarios that fail, one way each, and one that passes.

run "passes" {
  finding = "findings/ec2_miner.json"
  facts   = "facts/miner.json"

  expect {
    verdict = "malicious"
  }
}

run "wrong_verdict" {
  finding = "findings/ec2_miner.json"
  facts   = "facts/miner.json"

  expect {
    verdict = "benign"
  }
}

run "wrong_actions" {
  finding = "findings/ec2_miner.json"
  facts   = "facts/miner.json"

  expect {
    actions = [
      "action.isolate[\"i-0a1b2c3d4e5f67890\"]",
      "action.notify[\"i-0a1b2c3d4e5f67890\"]",
      "action.snapshot[\"i-0a1b2c3d4e5f67890\"]",
    ]
  }
}

run "failed_assert" {
  finding = "findings/ec2_miner.json"
  facts   = "facts/miner.json"

  assert {
    condition     = length(plan.incidents[0].actions) == 2
    error_message = "expected isolation and stop only"
  }

  assert {
    condition     = plan.summary.actions == 3
    error_message = "this one holds"
  }
}

run "missing_finding" {
  finding = "findings/does_not_exist.json"
}

run "unexpected_plan_errors" {
  finding = "findings/iam_key.json"
}

run "expected_errors_missing" {
  finding       = "findings/ec2_miner.json"
  facts         = "facts/miner.json"
  expect_errors = true
}

run "assert_does_not_evaluate" {
  finding = "findings/s3_unmatched.json"

  assert {
    condition     = plan.incidents[0].verdicts[0].verdict == "benign"
    error_message = "there is no incident to index"
  }
}
