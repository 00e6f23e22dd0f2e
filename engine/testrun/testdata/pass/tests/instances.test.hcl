# Scenarios of rule "instances": recorded findings planned with recorded
# facts, checked against what must be planned.

run "miner_is_contained" {
  finding = "findings/ec2_miner.json"
  facts   = "facts/miner.json"

  expect {
    verdict = "malicious"
    rules   = ["instances"]
    actions = [
      "action.isolate[\"i-0a1b2c3d4e5f67890\"]",
      "action.stop[\"i-0a1b2c3d4e5f67890\"]",
      "action.notify[\"i-0a1b2c3d4e5f67890\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.95
    error_message = "a running miner is certain"
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "triage: xmrig is running (pid 24817)")
    error_message = "the verdict names the miner"
  }

  assert {
    condition     = finding.resource.id == plan.incidents[0].finding.resource.id && finding.severity == "high"
    error_message = "finding is the normalized finding"
  }

  assert {
    condition     = plan.incidents[0].actions[0].change.after.security_groups[0] == var.isolation_sg
    error_message = "isolated into ${var.isolation_sg}"
  }
}

run "no_facts_means_empty_facts" {
  finding = "findings/ec2_miner.json"

  expect {
    verdict = "suspicious"
    actions = ["action.notify[\"i-0a1b2c3d4e5f67890\"]"]
  }
}

run "low_severity_without_a_miner_is_benign" {
  finding = "findings/ec2_bruteforce_low.json"
  facts   = "facts/quiet.json"

  expect {
    verdict = "benign"
    actions = []
  }
}

run "isolation_group_from_variables" {
  finding   = "findings/ec2_miner.json"
  facts     = "facts/miner.json"
  variables = { isolation_sg = "sg-00007e57" }

  assert {
    condition     = plan.incidents[0].actions[0].change.after.security_groups == ["sg-00007e57"]
    error_message = "the run's variables set the isolation group"
  }
}

run "same_variables_same_engine" {
  finding   = "findings/ec2_miner.json"
  facts     = "facts/miner.json"
  variables = { isolation_sg = "sg-00007e57" }

  assert {
    condition     = var.isolation_sg == "sg-00007e57"
    error_message = "var sees the run's variables"
  }
}

run "inline_facts" {
  finding = "findings/ec2_miner.json"
  facts = {
    triage = {
      processes = [{ pid = 7, name = "minerd" }]
    }
  }

  expect {
    verdict = "malicious"
  }
}
