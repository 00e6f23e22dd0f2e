# Scenario tests of rule s3_exposure. A bucket's exposure is for its owner
# to judge: it is reported. A caller on a threat list has someone else's
# key: the key is disabled and its user denied.

run "block_public_access_disabled_notifies" {
  finding = "testdata/findings/s3_policy_bucket_block_public_access_disabled.json"
  facts   = "testdata/facts/s3_public_access_trail.json"

  expect {
    verdict = "suspicious"
    rules   = ["s3_exposure"]
    actions = ["action.notify[\"acme-prod-customer-exports\"]"]
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "PutBucketPublicAccessBlock by alice")])
    error_message = "the verdict names who changed the bucket"
  }
}

run "published_pentest_sample_notifies" {
  finding = "testdata/findings/guardduty_PenTest_S3_ParrotLinux.json"

  expect {
    verdict = "suspicious"
    rules   = ["s3_exposure"]
    actions = ["action.notify[\"bucketName\"]"]
  }
}

run "threat_listed_caller_key_is_disabled" {
  finding = "testdata/findings/s3_exfiltration_malicious_ip_caller.json"

  expect {
    verdict = "malicious"
    rules   = ["s3_exposure"]
    actions = [
      "action.disable_key[\"AKIAXQ4G7NF2REPORTSV\"]",
      "action.deny_all[\"reporting-svc\"]",
      "action.notify[\"acme-finance-exports\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].actions[0].change.after.status == "Inactive"
    error_message = "the caller's key is deactivated"
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty: reporting-svc (key AKIAXQ4G7NF2REPORTSV) called GetObject on bucket acme-finance-exports from 198.51.100.23, which is on threat list ProofPoint (Exfil)")
    error_message = "the verdict names the caller, its key, the call and the threat list"
  }
}
