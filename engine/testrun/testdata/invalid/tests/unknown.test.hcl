run "misspelt" {
  findng = "findings/ec2_miner.json"
}

run "bad_reference" {
  finding = "findings/ec2_miner.json"

  assert {
    condition     = length(plna.incidents) == 1
    error_message = "plan is misspelt"
  }
}

run "bad_expectation" {
  finding   = "findings/ec2_miner.json"
  variables = { isolation_group = "sg-0test" }

  expect {
    verdict = "malicous"
    rules   = ["instance"]
  }
}
