package cordon.kubernetes.response_test

import data.cordon.kubernetes.response

cluster := {"type": "aws_eks_cluster", "id": "platform", "tags": {}, "details": {}}

operators := {"type": "aws_iam_role", "id": "platform-operators", "tags": {}, "details": {}}

session_key := {"type": "aws_iam_access_key", "id": "ASIAXQ4G7NF2OPERATOR", "tags": {}, "details": {"user_type": "Role"}}

deployer := {"type": "aws_iam_user", "id": "deployer", "tags": {}, "details": {}}

deployer_key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2DEPLOYER", "tags": {}, "details": {"user_type": "IAMUser"}}

all_actions := ["deny_all", "disable_key", "notify"]

make_input(type, resources, v, allowed) := {
	"finding": {
		"id": "4d6f8b0d2f4b6d8f0b2d4f6b8d0f2b4d",
		"source": "guardduty",
		"type": type,
		"severity": "medium",
		"severity_score": 5,
		"count": 1,
		"resource": cluster,
		"resources": array.concat([cluster], resources),
		"raw": {},
	},
	"resource": cluster,
	"facts": {},
	"scope": {"name": "eks_clusters"},
	"rule": {"name": "kubernetes_threat", "actions": allowed},
	"verdict": {"verdict": v, "confidence": 0.9, "reasons": [], "summary": "Cluster platform is under attack."},
}

test_a_threat_listed_role_is_denied_and_its_cluster_access_named if {
	acts := response.actions with input as make_input("Discovery:Kubernetes/MaliciousIPCaller", [session_key, operators], "malicious", all_actions)
	acts == {
		{
			"action": "deny_all",
			"target": "platform-operators",
			"reason": "deny every session of the role issued before now: the stolen credentials stop working in AWS, and legitimate holders get fresh sessions",
		},
		{
			"action": "notify",
			"target": "platform",
			"reason": "malicious (confidence 0.90): Cluster platform is under attack. Next: remove the cluster access of IAM role platform-operators (aws eks delete-access-entry --cluster-name platform --principal-arn <its ARN>, or its aws-auth mapping): denying it in IAM does not end its Kubernetes access, which EKS authenticates with sts:GetCallerIdentity; then review what it did in the audit log.",
		},
	}
}

test_a_threat_listed_user_is_denied_and_its_key_disabled if {
	acts := response.actions with input as make_input("Impact:Kubernetes/MaliciousIPCaller.Custom", [deployer_key, deployer], "malicious", all_actions)
	{[a.action, a.target] | some a in acts} == {["deny_all", "deployer"], ["disable_key", "AKIAXQ4G7NF2DEPLOYER"], ["notify", "platform"]}
	some a in acts
	a.action == "deny_all"
	a.reason == "attach a deny-all policy to the user, so none of its keys or console sessions can call AWS"
}

test_suspicion_denies_nothing if {
	acts := response.actions with input as make_input("Execution:Kubernetes/ExecInKubeSystemPod", [session_key, operators], "suspicious", all_actions)
	count(acts) == 1
	some a in acts
	a.reason == "suspicious (confidence 0.90): Cluster platform is under attack. Next: confirm with the owner of IAM role platform-operators whether this was expected; if not, remove its cluster access and review the workloads it changed in cluster platform."
}

test_anonymous_access_names_the_bindings_to_remove if {
	x := json.patch(make_input("Discovery:Kubernetes/SuccessfulAnonymousAccess", [], "suspicious", all_actions), [{"op": "remove", "path": "/verdict/summary"}])
	acts := response.actions with input as x
	acts == {{
		"action": "notify",
		"target": "platform",
		"reason": "suspicious (confidence 0.90): Discovery:Kubernetes/SuccessfulAnonymousAccess on cluster platform. Next: remove the RBAC bindings that grant system:anonymous or system:unauthenticated anything in cluster platform (kubectl get clusterrolebindings,rolebindings -A -o wide), and keep the API endpoint private.",
	}}
}

test_a_caller_without_an_iam_principal if {
	acts := response.actions with input as make_input("Discovery:Kubernetes/MaliciousIPCaller", [], "malicious", all_actions)
	some a in acts
	endswith(a.reason, "Next: confirm with the owner of the caller whether this was expected; if not, remove its cluster access and review the workloads it changed in cluster platform.")
	count(acts) == 1
}

test_benign_and_disallowed_do_nothing if {
	count(response.actions) == 0 with input as make_input("Policy:Kubernetes/ExposedDashboard", [], "benign", all_actions)
	count(response.actions) == 0 with input as make_input("Discovery:Kubernetes/MaliciousIPCaller", [session_key, operators], "malicious", [])
}
