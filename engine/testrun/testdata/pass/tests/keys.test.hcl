# Rule "keys" lists only notify, but its response also picks stop: the
# plan must fail, and nothing of the investigation be planned.

variables {
  isolation_sg = "sg-0000f11e"
}

run "disallowed_action_fails_the_plan" {
  finding       = "findings/iam_key.json"
  expect_errors = true

  expect {
    verdict = "suspicious"
    rules   = ["keys"]
    actions = []
  }

  assert {
    condition     = strcontains(plan.incidents[0].errors[0].detail, "stop")
    error_message = "the error names the disallowed action"
  }

  assert {
    condition     = var.isolation_sg == "sg-0000f11e"
    error_message = "the variables block applies to every run"
  }
}

run "unmatched_finding" {
  finding = "findings/s3_unmatched.json"

  expect {
    rules   = []
    actions = []
  }

  assert {
    condition     = length(plan.unmatched) == 1 && plan.summary.incidents == 0
    error_message = "no rule matches an S3 finding"
  }
}
