# Scenario tests of rule attack_sequence: GuardDuty Extended Threat
# Detection's attack sequences. What the sequence names and cordon has an
# action for is contained; the rest is reported.

run "compromised_credentials_disable_the_key" {
  finding = "testdata/findings/attack_sequence_iam_compromised_credentials.json"

  expect {
    verdict = "malicious"
    rules   = ["attack_sequence"]
    actions = [
      "action.disable_key[\"AKIAXQ4G7NF2REPORTSV\"]",
      "action.notify[\"AKIAXQ4G7NF2REPORTSV\"]",
    ]
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty Extended Threat Detection correlated 4 signal(s) into one attack: Discovery:IAMUser/AnomalousBehavior, Exfiltration:S3/AnomalousBehavior, Stealth:IAMUser/CloudTrailLoggingDisabled, s3:ListBuckets")
    error_message = "the verdict cites the sequence's signals"
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "indicator Tor exit nodes: 192.0.2.199")
    error_message = "the verdict cites the sequence's indicators"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[1].reasons[0], "not contained, no action for it: aws_s3_bucket acme-finance-exports")
    error_message = "the notification says what cordon could not contain"
  }
}

run "compromised_instance_group_isolates_every_instance" {
  finding = "testdata/findings/attack_sequence_ec2_compromised_instance_group.json"

  expect {
    verdict = "malicious"
    rules   = ["attack_sequence"]
    actions = [
      "action.protect[\"i-0a1b2c3d4e5f67890\"]",
      "action.protect[\"i-0b2c3d4e5f6a78901\"]",
      "action.isolate[\"i-0a1b2c3d4e5f67890\"]",
      "action.isolate[\"i-0b2c3d4e5f6a78901\"]",
      "action.snapshot[\"i-0a1b2c3d4e5f67890\"]",
      "action.snapshot[\"i-0b2c3d4e5f6a78901\"]",
      "action.notify[\"i-0a1b2c3d4e5f67890\"]",
    ]
  }
}
