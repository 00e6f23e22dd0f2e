# Scenario tests of rule s3_exposure, which only ever notifies: a bucket's
# exposure is for its owner to judge.

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
