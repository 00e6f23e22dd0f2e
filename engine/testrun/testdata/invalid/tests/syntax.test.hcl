run "unclosed" {
  finding = "findings/ec2_miner.json"
