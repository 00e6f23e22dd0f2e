# Scenario tests of rule rds_threat: RDS Protection findings are reported,
# with what to do by hand; cordon has no action on databases.

run "successful_brute_force_is_reported" {
  finding = "testdata/findings/rds_successful_brute_force.json"

  expect {
    verdict = "malicious"
    rules   = ["rds_threat"]
    actions = ["action.notify[\"orders-db-1\"]"]
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty counted 412 failed and 1 successful login(s) of database user app_admin with psql")
    error_message = "the verdict cites GuardDuty's count of the attempts"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[0].reasons[0], "change the password of database user app_admin on orders-db-1")
    error_message = "the notification says which password to change"
  }
}

run "failed_logins_from_tor_are_reported" {
  finding = "testdata/findings/rds_tor_failed_login.json"

  expect {
    verdict = "suspicious"
    rules   = ["rds_threat"]
    actions = ["action.notify[\"orders-db-1\"]"]
  }
}
