# Package cordon.kubernetes.verdict judges GuardDuty's EKS audit log
# findings (*:Kubernetes/*): calls to a cluster's Kubernetes API that
# GuardDuty distrusts (from threat-listed addresses or Tor, by anonymous
# users, unlike the caller's history), workloads launched with a way onto
# the host (privileged containers, sensitive host mounts), commands run in
# kube-system pods, and clusters left open (an exposed dashboard, anonymous
# access granted).
#
# Malicious: the caller's address is on a threat list: whoever holds the
# caller's credentials is not its owner. Suspicious: everything else the
# finding reports, which a responder must confirm with the caller's owner
# or the cluster's admins. The caller is named as Kubernetes knows it and,
# where it authenticated as one, as the IAM role or user the finding lists.
package cordon.kubernetes.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(malicious_evidence) > 0
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "inconclusive"

confidence := 0.9 if {
	verdict == "malicious"
} else := 0.7 if {
	verdict == "suspicious"
	count(suspicious_evidence) > 1
} else := 0.6 if {
	verdict == "suspicious"
} else := 0.5

reasons contains r if some r in evidence

evidence := malicious_evidence | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := {sprintf("GuardDuty reported %s at %s severity, but the finding does not say enough to judge it", [input.finding.type, input.finding.severity])}

reasons contains sprintf("GuardDuty: %s %s (HTTP %v)", [caller_label, request_label, api_status]) if {
	request_label
	api_status
}

reasons contains sprintf("the Kubernetes API answered %v: the request was refused, but the caller holds credentials the cluster accepts", [api_status]) if {
	is_number(api_status)
	api_status >= 400
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("Cluster %s is under attack: %s.", [cluster, root_cause]) if {
	verdict == "malicious"
} else := sprintf("Cluster %s needs a responder: %s (%s severity).", [cluster, finding_title, input.finding.severity]) if {
	verdict == "suspicious"
} else := sprintf("%s on cluster %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, cluster])

root_cause := sprintf("the credentials of %s are used from %s (threat list %s)", [caller_label, caller_ip, concat(", ", lib.threat_lists)]) if {
	verdict == "malicious"
} else := "the cluster lets unauthenticated users act (RBAC grants system:anonymous or system:unauthenticated)" if {
	anonymous
} else := "undetermined: the evidence does not show how the caller got access"

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
}

impact_parts contains [1, sprintf("%s can do in cluster %s whatever its RBAC bindings allow%s", [caller_label, cluster, groups_suffix])]

impact_parts contains [2, sprintf("as IAM %s it can also call the AWS API with that principal's permissions", [principal_label])] if principal

impact_parts contains [3, sprintf("workload %s runs with a way onto its node: a compromise of it is a compromise of the node", [workload.id])] if {
	host_access
	workload
}

# ---------------------------------------------------------------------------
# Evidence

malicious_evidence contains sprintf("GuardDuty: %s called the Kubernetes API of cluster %s from %s, which is on threat list %s%s", [caller_label, cluster, caller_ip, list, threat_names_suffix]) if {
	some list in lib.threat_lists
}

suspicious_evidence contains sprintf("GuardDuty: %s called the Kubernetes API of cluster %s from %s, an address GuardDuty considers malicious, but the finding names no threat list", [caller_label, cluster, caller_ip]) if {
	startswith(lib.finding_threat, "MaliciousIPCaller")
	count(lib.threat_lists) == 0
}

suspicious_evidence contains sprintf("GuardDuty: %s called the Kubernetes API of cluster %s through the Tor network (exit node %s); legitimate users rarely hide where they are", [caller_label, cluster, caller_ip]) if {
	startswith(lib.finding_threat, "TorIPCaller")
}

suspicious_evidence contains sprintf("GuardDuty: an unauthenticated request succeeded on cluster %s from %s: %s", [cluster, caller_ip, finding_title]) if {
	anonymous
}

suspicious_evidence contains sprintf("GuardDuty: %s acted unlike its history: %s", [caller_label, finding_title]) if {
	startswith(lib.finding_threat, "AnomalousBehavior")
}

suspicious_evidence contains sprintf("GuardDuty: %s launched %s with a way onto its node (%s)", [caller_label, workload_label, finding_title]) if {
	host_access
}

suspicious_evidence contains sprintf("GuardDuty: %s ran a command inside %s, in the namespace of the cluster's own components", [caller_label, workload_label]) if {
	lib.finding_threat == "ExecInKubeSystemPod"
}

suspicious_evidence contains sprintf("GuardDuty: cluster %s is exposed: %s", [cluster, finding_title]) if {
	lib.finding_purpose == "Policy"
}

suspicious_evidence contains sprintf("GuardDuty: %s (%s, %s severity)", [finding_title, input.finding.type, input.finding.severity]) if {
	lib.at_least("high")
	count(named_evidence) == 0
}

# named_evidence is the suspicious evidence above but the catch-all.
named_evidence := (({1 |
	some prefix in ["MaliciousIPCaller", "TorIPCaller", "AnomalousBehavior", "ExecInKubeSystemPod"]
	startswith(lib.finding_threat, prefix)
} | {1 | anonymous}) | {1 | host_access}) | {1 | lib.finding_purpose == "Policy"}

# ---------------------------------------------------------------------------
# Finding types

anonymous if startswith(lib.finding_threat, "SuccessfulAnonymousAccess")

# host_access: a workload launched privileged or with a sensitive host path
# mounted (PrivilegedContainer, ContainerWithSensitiveMount, and the
# AnomalousBehavior.WorkloadDeployed!… variants).
host_access if contains(lib.finding_threat, "PrivilegedContainer")

host_access if contains(lib.finding_threat, "ContainerWithSensitiveMount")

# ---------------------------------------------------------------------------
# The cluster, the caller and the request

cluster := input.resource.id

# user is the Kubernetes user the finding names (kubernetesUserDetails).
user := u if {
	lib.from_guardduty
	u := input.finding.raw.resource.kubernetesDetails.kubernetesUserDetails
} else := u if {
	lib.from_guardduty
	u := input.finding.raw.Resource.KubernetesDetails.KubernetesUserDetails
}

username := n if {
	n := lib.field_of(user, "username", "Username")
	lib.non_empty_string(n)
}

groups := sort({g | some g in lib.field_of(user, "groups", "Groups")})

groups_suffix := sprintf(" (groups %s)", [concat(", ", groups)]) if {
	count(groups) > 0
} else := ""

# principal is the IAM role or user the Kubernetes user authenticated as.
principal := ps[0] if {
	ps := [r | some r in input.finding.resources; r.type in {"aws_iam_role", "aws_iam_user"}]
	count(ps) > 0
}

principal_label := sprintf("role %s", [principal.id]) if {
	principal.type == "aws_iam_role"
} else := sprintf("user %s", [principal.id])

caller_label := sprintf("IAM %s (Kubernetes user %s)", [principal_label, username]) if {
	principal
	username
} else := sprintf("IAM %s", [principal_label]) if {
	principal
} else := sprintf("Kubernetes user %s", [username]) if {
	username
} else := "an unknown caller"

caller_ip := ip if {
	ip := lib.remote_ip
} else := "an unknown address"

api_call := a if {
	lib.from_guardduty
	a := input.finding.raw.service.action.kubernetesApiCallAction
} else := a if {
	lib.from_guardduty
	a := input.finding.raw.Service.Action.KubernetesApiCallAction
}

api_status := lib.field_of(api_call, "statusCode", "StatusCode")

request_label := sprintf("sent %s %s", [upper(verb), uri]) if {
	verb := lib.field_of(api_call, "verb", "Verb")
	uri := lib.field_of(api_call, "requestUri", "RequestUri")
	lib.non_empty_string(verb)
	lib.non_empty_string(uri)
}

# workload is the pod or other workload the finding names.
workload := ws[0] if {
	ws := [r | some r in input.finding.resources; startswith(r.type, "kubernetes_")]
	count(ws) > 0
}

workload_label := sprintf("%s %s", [trim_prefix(workload.type, "kubernetes_"), workload.id]) if {
	workload
} else := "a workload"

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""
