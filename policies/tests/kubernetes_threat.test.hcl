# Scenario tests of rule kubernetes_threat: GuardDuty EKS audit log
# findings. The cluster is reported; the IAM role a threat-listed caller
# authenticated as is denied.

run "exec_in_kube_system_is_reported" {
  finding = "testdata/findings/eks_exec_in_kube_system_pod.json"

  expect {
    verdict = "suspicious"
    rules   = ["kubernetes_threat"]
    actions = ["action.notify[\"platform\"]"]
  }

  assert {
    condition     = anytrue([for r in plan.incidents[0].verdicts[0].reasons : strcontains(r, "IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) ran a command inside pod kube-system/aws-node-7mq2x")])
    error_message = "the verdict names the caller, its IAM role and the pod"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[0].reasons[0], "Next: confirm with the owner of IAM role platform-operators")
    error_message = "a suspicion is for the role's owner to confirm: nothing is denied"
  }
}

run "threat_listed_caller_denies_its_role" {
  finding = "testdata/findings/eks_malicious_ip_caller.json"

  expect {
    verdict = "malicious"
    rules   = ["kubernetes_threat"]
    actions = [
      "action.deny_all[\"platform-operators\"]",
      "action.notify[\"platform\"]",
    ]
  }

  assert {
    condition     = contains(plan.incidents[0].verdicts[0].reasons, "GuardDuty: IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) called the Kubernetes API of cluster platform from 198.51.100.203, which is on threat list ProofPoint (TeamTNT)")
    error_message = "the verdict names the threat list"
  }

  assert {
    condition     = strcontains(plan.incidents[0].actions[1].reasons[0], "aws eks delete-access-entry --cluster-name platform")
    error_message = "the notification says the role's cluster access must be removed too: IAM cannot deny it"
  }
}
