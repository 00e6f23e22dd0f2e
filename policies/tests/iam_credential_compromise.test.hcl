# Scenario tests of rule iam_credential_compromise: recorded GuardDuty
# findings about credentials, with the CloudTrail events the trail
# collector would have found.

run "exfiltrated_instance_credentials_deny_the_role" {
  finding = "testdata/findings/iam_instance_credential_exfiltration_outside_aws.json"
  facts   = "testdata/facts/iam_exfiltration_trail.json"

  expect {
    verdict = "malicious"
    rules   = ["iam_credential_compromise"]
    # An STS key cannot be disabled: the role is denied instead, which
    # revokes its older sessions too.
    actions = [
      "action.deny_all[\"web-app-role\"]",
      "action.notify[\"ASIAXQ4G7NF2R5EXAMPL\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.95
    error_message = "denied calls from outside AWS give 0.95"
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "203.0.113.77")])
    error_message = "the verdict names the caller's address"
  }
}

run "anomalous_discovery_only_notifies" {
  finding = "testdata/findings/iam_discovery_anomalous_behavior.json"
  facts   = "testdata/facts/iam_anomalous_recon_only.json"

  expect {
    verdict = "suspicious"
    rules   = ["iam_credential_compromise"]
    actions = ["action.notify[\"AKIAXQ4G7NF2CIDEPLOY\"]"]
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.7
    error_message = "read-only discovery from a network the key never used is suspicious (0.7)"
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "CloudTrail: the key was used from 198.51.100.61, outside the networks it was used from before the finding (192.0.2.0/24)")
    error_message = "the verdict names the new network and the usual one"
  }
}

run "anomalous_persistence_disables_the_key" {
  finding = "testdata/findings/iam_discovery_anomalous_behavior.json"
  facts   = "testdata/facts/iam_anomalous_persistence.json"

  expect {
    verdict = "malicious"
    actions = [
      "action.disable_key[\"AKIAXQ4G7NF2CIDEPLOY\"]",
      "action.deny_all[\"ci-deploy\"]",
      "action.notify[\"AKIAXQ4G7NF2CIDEPLOY\"]",
    ]
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "AttachUserPolicy")])
    error_message = "the verdict names the persistence calls"
  }

  assert {
    condition     = plan.incidents[0].actions[0].change.after.status == "Inactive"
    error_message = "the key is deactivated"
  }
}

# A GuardDuty sample finding ("Generate sample findings" in the console, on
# made-up resources) is judged like any other, but nothing that changes
# anything is planned for it: only the notification. The plan lists the key
# and user actions as withheld, and says why.
run "published_malicious_ip_sample" {
  finding = "testdata/findings/guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json"

  expect {
    verdict = "malicious"
    rules   = ["iam_credential_compromise"]
    actions = [
      "action.notify[\"GeneratedFindingAccessKeyId\"]",
    ]
  }

  assert {
    condition     = length(plan.incidents[0].withheld) == 2 && strcontains(plan.incidents[0].withheld[0].reason, "sample finding")
    error_message = "the key and user actions are withheld because the finding is a sample"
  }
}
