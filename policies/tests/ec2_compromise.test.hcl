# Scenario tests of rule ec2_compromise: each run plans a recorded
# GuardDuty finding with recorded collector facts (testdata/, described in
# testdata/README.md) through the whole engine, offline, and pins what
# must be planned. Run them with `cordon test`.

run "cryptominer_is_contained" {
  finding = "testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"
  facts   = "testdata/facts/ec2_cryptominer.json"

  expect {
    verdict = "malicious"
    rules   = ["ec2_compromise"]
    # In apply order: preserve, contain, acquire, disrupt, notify.
    actions = [
      "action.protect[\"i-0a1b2c3d4e5f67890\"]",
      "action.tag[\"i-0a1b2c3d4e5f67890\"]",
      "action.isolate[\"i-0a1b2c3d4e5f67890\"]",
      "action.snapshot[\"i-0a1b2c3d4e5f67890\"]",
      "action.stop[\"i-0a1b2c3d4e5f67890\"]",
      "action.notify[\"i-0a1b2c3d4e5f67890\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.99
    error_message = "a miner found running by triage is near certain"
  }

  assert {
    condition     = length(plan.incidents[0].withheld) == 0
    error_message = "with its memory image confirmed in S3, the instance is stopped"
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "xmrig")])
    error_message = "the verdict names the miner triage found"
  }

  # Without isolation_sg, each interface moves into the cordon-isolation
  # group cordon keeps in its VPC, found or created at apply.
  assert {
    condition     = plan.incidents[0].actions[2].change.before.security_groups == ["sg-0123456789abcdef0"] && contains(plan.incidents[0].actions[2].change.after_unknown, "security_groups")
    error_message = "isolation moves every interface into the VPC's isolation group, known after apply"
  }
}

# The memory is acquired before the stop: when the acquisition fails (here
# it timed out), the instance is contained but not stopped, and both the
# plan and the notification say why.
run "no_stop_before_the_memory_is_secured" {
  finding = "testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"
  facts = merge(jsondecode(file("testdata/facts/ec2_cryptominer.json")), {
    memory = { error = "timed out after 20m0s: the memory capture on i-0a1b2c3d4e5f67890 did not finish within the collector's timeout (cancelled)" }
  })

  expect {
    verdict = "malicious"
    actions = [
      "action.protect[\"i-0a1b2c3d4e5f67890\"]",
      "action.tag[\"i-0a1b2c3d4e5f67890\"]",
      "action.isolate[\"i-0a1b2c3d4e5f67890\"]",
      "action.snapshot[\"i-0a1b2c3d4e5f67890\"]",
      "action.notify[\"i-0a1b2c3d4e5f67890\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].withheld[0].address == "action.stop[\"i-0a1b2c3d4e5f67890\"]" && strcontains(plan.incidents[0].withheld[0].reason, "collector memory (aws_ssm_memory) has not: its memory acquisition failed: timed out after 20m0s")
    error_message = "the stop is withheld, naming the memory collector and why it failed"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[4].reasons[0], "[not stopped yet: its memory is not secured (collector \"memory\" failed: timed out after 20m0s")
    error_message = "the notification says why the instance still runs"
  }
}

run "isolation_group_is_a_variable" {
  finding   = "testdata/findings/ec2_cryptocurrency_bitcointool_dns.json"
  facts     = "testdata/facts/ec2_cryptominer.json"
  variables = { isolation_sg = "sg-0123456789abcdef0" }

  assert {
    condition     = plan.incidents[0].actions[2].change.after.security_groups == ["sg-0123456789abcdef0"]
    error_message = "isolate uses the isolation_sg variable"
  }
}

run "backdoor_on_an_autoscaled_instance_without_triage" {
  finding = "testdata/findings/ec2_backdoor_cnc_dns.json"
  facts   = "testdata/facts/ec2_backdoor_triage_failed.json"

  expect {
    verdict = "malicious"
    rules   = ["ec2_compromise"]
    # Detached from its auto scaling group and load balancer, so that it is
    # not terminated and replaced. Its SSM agent is unreachable, so its
    # memory could not be acquired either: it is not stopped.
    actions = [
      "action.protect[\"i-0f9e8d7c6b5a43210\"]",
      "action.tag[\"i-0f9e8d7c6b5a43210\"]",
      "action.deregister[\"i-0f9e8d7c6b5a43210\"]",
      "action.detach[\"i-0f9e8d7c6b5a43210\"]",
      "action.isolate[\"i-0f9e8d7c6b5a43210\"]",
      "action.snapshot[\"i-0f9e8d7c6b5a43210\"]",
      "action.notify[\"i-0f9e8d7c6b5a43210\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].withheld[0].action == "stop" && strcontains(plan.incidents[0].withheld[0].reason, "its memory acquisition failed: the SSM agent of instance i-0f9e8d7c6b5a43210 is ConnectionLost")
    error_message = "the stop waits for the memory, which the unreachable agent could not give"
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.9
    error_message = "GuardDuty's threat list alone gives 0.9"
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "ProofPoint")])
    error_message = "the verdict names the threat list"
  }
}

run "failed_ssh_bruteforce_is_benign" {
  finding = "testdata/findings/ec2_ssh_bruteforce_target.json"
  facts   = "testdata/facts/ec2_ssh_bruteforce_failed.json"

  expect {
    verdict = "benign"
    rules   = ["ec2_compromise"]
    actions = []
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.8
    error_message = "no login succeeded: benign with confidence 0.8"
  }
}

run "successful_ssh_bruteforce_is_contained" {
  finding = "testdata/findings/ec2_ssh_bruteforce_target.json"
  facts   = "testdata/facts/ec2_ssh_bruteforce_succeeded.json"

  expect {
    verdict = "malicious"
    actions = [
      "action.protect[\"i-0b7c6d5e4f3a21098\"]",
      "action.tag[\"i-0b7c6d5e4f3a21098\"]",
      "action.isolate[\"i-0b7c6d5e4f3a21098\"]",
      "action.snapshot[\"i-0b7c6d5e4f3a21098\"]",
      "action.stop[\"i-0b7c6d5e4f3a21098\"]",
      "action.notify[\"i-0b7c6d5e4f3a21098\"]",
    ]
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "successful login as root from 198.51.100.23")])
    error_message = "the verdict names the attacker's login"
  }
}

run "authorized_scanner_is_benign" {
  finding = "testdata/findings/ec2_ssh_bruteforce_outbound_scanner.json"
  facts   = "testdata/facts/ec2_authorized_scanner.json"

  expect {
    verdict = "benign"
    actions = []
  }

  assert {
    condition     = finding.resource.tags["cordon:authorized-scanner"] == "true" && plan.incidents[0].verdicts[0].confidence == 0.9
    error_message = "an instance tagged as an authorized scanner is benign (0.9)"
  }
}

# A probe of an exposed port by a threat-listed scanner is reported, and
# nothing else: the instance was only its target, and the scanner being
# known is not evidence the instance is compromised.
run "port_probe_is_only_reported" {
  finding = "testdata/findings/ec2_recon_portprobe_unprotected_port.json"

  expect {
    verdict = "inconclusive"
    rules   = ["ec2_compromise"]
    actions = ["action.notify[\"i-0a1b2c3d4e5f67890\"]"]
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "port 8080 is reachable from the internet and was probed from 192.0.2.77")])
    error_message = "the notification says which port was probed, and from where"
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "which reached the instance from outside, is on threat list ProofPoint")])
    error_message = "a threat-listed prober is named, not counted as evidence against the instance"
  }
}

# GuardDuty's finding through Security Hub is the same incident, judged on
# the same evidence, as read from GuardDuty.
run "guardduty_through_security_hub" {
  finding = "testdata/findings/securityhub_guardduty_backdoor_cnc_dns.json"
  facts   = "testdata/facts/ec2_backdoor_triage_failed.json"

  expect {
    verdict = "malicious"
    rules   = ["ec2_compromise"]
    actions = [
      "action.protect[\"i-0f9e8d7c6b5a43210\"]",
      "action.tag[\"i-0f9e8d7c6b5a43210\"]",
      "action.deregister[\"i-0f9e8d7c6b5a43210\"]",
      "action.detach[\"i-0f9e8d7c6b5a43210\"]",
      "action.isolate[\"i-0f9e8d7c6b5a43210\"]",
      "action.snapshot[\"i-0f9e8d7c6b5a43210\"]",
      "action.notify[\"i-0f9e8d7c6b5a43210\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].withheld[0].action == "stop"
    error_message = "as read from GuardDuty, the stop waits for the memory"
  }

  assert {
    condition     = plan.incidents[0].verdicts[0].confidence == 0.9 && anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "threat list ProofPoint")])
    error_message = "GuardDuty's threat list, from Security Hub's ProductFields, is GuardDuty's evidence"
  }
}

# The same document imported by another product (BatchImportFindings lets
# it say "GuardDuty" everywhere but in ProductArn) is that product's claim:
# it keeps Security Hub's type, matches no rule written for GuardDuty's
# types, and is never acted on as GuardDuty's. Being high, it is reported
# by the catch-all, which names the product by its ARN.
run "forged_guardduty_finding_is_not_guardduty" {
  finding = "testdata/findings/securityhub_forged_guardduty_backdoor_cnc_dns.json"
  facts   = "testdata/facts/ec2_backdoor_triage_failed.json"

  expect {
    verdict = "inconclusive"
    rules   = ["unhandled_high_severity"]
    actions = ["action.notify[\"i-0f9e8d7c6b5a43210\"]"]
  }

  assert {
    condition     = finding.type == "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS" && contains(plan.incidents[0].verdicts[0].reasons, "the product calls itself GuardDuty")
    error_message = "a finding that only names GuardDuty keeps its own type and is reported as the other product's"
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : startswith(r, "Security Hub product arn:aws:securityhub:us-west-2:444455556666:product/444455556666/default rated")])
    error_message = "the product is named by the ARN it cannot choose"
  }
}

# Without facts no memory image is confirmed, so nothing is stopped.
run "published_backdoor_sample_without_facts" {
  finding = "testdata/findings/guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json"

  expect {
    verdict = "malicious"
    rules   = ["ec2_compromise"]
    actions = [
      "action.protect[\"i-99999999\"]",
      "action.tag[\"i-99999999\"]",
      "action.isolate[\"i-99999999\"]",
      "action.snapshot[\"i-99999999\"]",
      "action.notify[\"i-99999999\"]",
    ]
  }

  assert {
    condition     = plan.incidents[0].withheld[0].action == "stop" && strcontains(plan.incidents[0].withheld[0].reason, "its facts confirm no memory image")
    error_message = "no memory image, no stop"
  }
}

# Malware Protection for EC2 scanned the instance's volumes after another
# finding and found malware: the instance is contained as any other.
run "malware_on_the_volumes_is_contained" {
  finding = "testdata/findings/ec2_malicious_file.json"

  expect {
    verdict = "malicious"
    rules   = ["ec2_compromise"]
    actions = [
      "action.protect[\"i-0d4e5f6a7b8c90123\"]",
      "action.tag[\"i-0d4e5f6a7b8c90123\"]",
      "action.isolate[\"i-0d4e5f6a7b8c90123\"]",
      "action.snapshot[\"i-0d4e5f6a7b8c90123\"]",
      "action.notify[\"i-0d4e5f6a7b8c90123\"]",
    ]
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty Malware Protection found Linux.Trojan.Kinsing in /etc/kinsing, /tmp/kdevtmpfsi on the instance's volumes")
    error_message = "the verdict names the malware and where it was found"
  }
}
