run "still_runs" {
  finding = "findings/ec2_miner.json"
  facts   = "facts/miner.json"

  expect {
    verdict = "malicious"
  }
}
