# Package cordon.kubernetes.response chooses the response to a Kubernetes
# verdict (cordon.kubernetes.verdict), from the actions the matched rule
# allows:
#
#   malicious     deny_all on the IAM role or user the caller authenticated
#                 as, disable_key on its long-term access key, notify
#   suspicious    notify
#   inconclusive  notify
#   benign        nothing
#
# Why the IAM principal, and only on a malicious verdict. A malicious
# verdict means the caller's address is on a threat list: whoever holds the
# principal's credentials is not its owner, and what they can reach with
# them is the AWS API as much as the cluster. Denying the principal
# (aws_iam_deny_all: for a role, every session issued before now, so the
# nodes, pods and people that legitimately assume it get fresh sessions) is
# what stops the stolen credentials in AWS. It does not end their
# Kubernetes access: EKS authenticates a caller with a presigned
# sts:GetCallerIdentity request, which no IAM policy can deny, so the
# notification says to remove the principal's access entry (or its
# aws-auth mapping) as well. On a suspicious verdict (anomalous behaviour
# of an operator, Tor, a privileged pod) the caller is most likely its
# owner, and denying an operator's or a node's role would break the cluster
# for a suspicion: a human decides. A Kubernetes-only caller (a service
# account, system:anonymous) has no IAM principal and nothing cordon can
# contain; the notification says what to remove.
package cordon.kubernetes.response

import data.cordon.lib

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

cluster := input.resource.id

contain if verdict == "malicious"

actions contains {
	"action": "deny_all",
	"target": p.id,
	"reason": deny_reason(p),
} if {
	contain
	some p in lib.finding_principals
	lib.allowed("deny_all")
}

actions contains {
	"action": "disable_key",
	"target": k.id,
	"reason": sprintf("deactivate access key %s (reversible): the copy used from a threat-listed address stops working at once", [k.id]),
} if {
	contain
	some k in lib.finding_keys
	lib.long_term_key(k)
	lib.allowed("disable_key")
}

actions contains {
	"action": "notify",
	"target": cluster,
	"reason": sprintf("%s (confidence %s): %s Next: %s", [verdict, lib.decimal(confidence), headline, next_step]),
} if {
	verdict != "benign"
	lib.allowed("notify")
}

deny_reason(p) := "deny every session of the role issued before now: the stolen credentials stop working in AWS, and legitimate holders get fresh sessions" if {
	p.type == "aws_iam_role"
} else := "attach a deny-all policy to the user, so none of its keys or console sessions can call AWS"

headline := s if {
	s := input.verdict.summary
	s != ""
} else := sprintf("%s on cluster %s.", [input.finding.type, cluster])

# next_step is what a responder does by hand: cordon has no action on a
# cluster's access entries, RBAC or workloads.
next_step := sprintf("remove the cluster access of %s (aws eks delete-access-entry --cluster-name %s --principal-arn <its ARN>, or its aws-auth mapping): denying it in IAM does not end its Kubernetes access, which EKS authenticates with sts:GetCallerIdentity; then review what it did in the audit log.", [principal_name, cluster]) if {
	contain
	principal_name
} else := sprintf("remove the RBAC bindings that grant system:anonymous or system:unauthenticated anything in cluster %s (kubectl get clusterrolebindings,rolebindings -A -o wide), and keep the API endpoint private.", [cluster]) if {
	startswith(lib.finding_threat, "SuccessfulAnonymousAccess")
} else := sprintf("confirm with the owner of %s whether this was expected; if not, remove its cluster access and review the workloads it changed in cluster %s.", [caller, cluster])

principal_name := sprintf("IAM %s %s", [kind, p.id]) if {
	p := lib.finding_principals[0]
	kind := trim_prefix(p.type, "aws_iam_")
}

caller := principal_name if {
	principal_name
} else := "the caller"
