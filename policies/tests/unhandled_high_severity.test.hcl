# Scenario tests of rule unhandled_high_severity, the catch-all: a high
# finding of a type no other rule takes is reported, and nothing else.
# (ec2_compromise.test.hcl has another: a forged Security Hub finding.)

run "unknown_high_finding_is_reported" {
  finding = "testdata/findings/custom_detection_organization_leave_attempt.json"

  expect {
    verdict = "inconclusive"
    rules   = ["unhandled_high_severity"]
    actions = ["action.notify[\"AKIAXQ4G7NF2OPSADMIN\"]"]
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "no rule of this configuration takes DefenseImpairment:Organizations/ModifyCloudResourceHierarchy: cordon weighed no evidence and plans nothing but this notification")
    error_message = "the verdict says no rule judged the finding"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[0].reasons[0], "add one to automate it")
    error_message = "the notification says the type needs a rule"
  }
}
