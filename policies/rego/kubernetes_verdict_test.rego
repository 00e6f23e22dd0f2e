package cordon.kubernetes.verdict_test

import data.cordon.kubernetes.verdict

# ---------------------------------------------------------------------------
# Inputs: an EKS audit log finding as the engine builds it, the cluster
# primary, then the caller's key and IAM role, then the workload

cluster := {"type": "aws_eks_cluster", "id": "platform", "tags": {}, "details": {"name": "platform", "status": "ACTIVE"}}

operator_key := {"type": "aws_iam_access_key", "id": "ASIAXQ4G7NF2OPERATOR", "tags": {}, "details": {"user_type": "Role", "user_name": "platform-operators"}}

operators := {"type": "aws_iam_role", "id": "platform-operators", "tags": {}, "details": {"role_name": "platform-operators"}}

kube_proxy := {"type": "kubernetes_pod", "id": "kube-system/kube-proxy-8xk2p", "tags": {}, "details": {"name": "kube-proxy-8xk2p", "namespace": "kube-system"}}

role_user := {
	"username": "arn:aws:sts::123456789012:assumed-role/platform-operators/mallory",
	"uid": "aws-iam-authenticator:123456789012:AROAXQ4G7NF2OPERATORS",
	"groups": ["system:masters", "system:authenticated"],
}

api_service(verb, uri, ip, status) := {
	"serviceName": "guardduty",
	"featureName": "EksAuditLogs",
	"action": {"actionType": "KUBERNETES_API_CALL", "kubernetesApiCallAction": {
		"verb": verb,
		"requestUri": uri,
		"sourceIps": [ip],
		"remoteIpDetails": {"ipAddressV4": ip},
		"statusCode": status,
	}},
}

threat_listed(svc) := object.union(svc, {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["TeamTNT"]}]}})

finding(type, severity, resources, user, svc) := {
	"id": "4d6f8b0d2f4b6d8f0b2d4f6b8d0f2b4d",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding.", [type]),
	"severity": severity,
	"severity_score": 5,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": cluster,
	"resources": array.concat([cluster], resources),
	"network": {"remote_ip": svc.action.kubernetesApiCallAction.remoteIpDetails.ipAddressV4},
	"raw": {
		"schemaVersion": "2.0",
		"type": type,
		"resource": {"resourceType": "EKSCluster", "kubernetesDetails": {"kubernetesUserDetails": user}},
		"service": svc,
	},
}

make_input(f) := {
	"finding": f,
	"resource": f.resource,
	"facts": {},
	"scope": {"name": "eks_clusters"},
	"rule": {"name": "kubernetes_threat", "actions": ["deny_all", "disable_key", "notify"]},
}

list_secrets := api_service("list", "/api/v1/secrets", "203.0.113.66", 200)

has_reason(doc, text) if {
	some r in doc.reasons
	contains(r, text)
}

# ---------------------------------------------------------------------------
# Malicious

test_a_threat_listed_caller_is_malicious if {
	f := finding("Discovery:Kubernetes/MaliciousIPCaller", "medium", [operator_key, operators], role_user, threat_listed(list_secrets))
	v := verdict with input as make_input(f)
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) called the Kubernetes API of cluster platform from 203.0.113.66, which is on threat list ProofPoint (TeamTNT)" in v.reasons
	"GuardDuty: IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) sent LIST /api/v1/secrets (HTTP 200)" in v.reasons
	v.root_cause == "the credentials of IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) are used from 203.0.113.66 (threat list ProofPoint)"
	v.summary == concat("", ["Cluster platform is under attack: ", v.root_cause, "."])
	contains(v.impact, "whatever its RBAC bindings allow (groups system:authenticated, system:masters)")
	contains(v.impact, "as IAM role platform-operators it can also call the AWS API with that principal's permissions")
}

test_refused_requests_are_said if {
	f := finding("Discovery:Kubernetes/MaliciousIPCaller.Custom", "medium", [operator_key, operators], role_user, threat_listed(api_service("get", "/api/v1/namespaces/kube-system/secrets", "203.0.113.66", 403)))
	v := verdict with input as make_input(f)
	"the Kubernetes API answered 403: the request was refused, but the caller holds credentials the cluster accepts" in v.reasons
}

test_pascal_case_raw if {
	svc := {"Action": {"KubernetesApiCallAction": {"Verb": "create", "RequestUri": "/apis/apps/v1/namespaces/default/deployments", "StatusCode": 201}}}
	f := finding("Execution:Kubernetes/AnomalousBehavior.WorkloadDeployed", "medium", [operators], role_user, list_secrets)
	pascal := json.patch(f, [
		{"op": "remove", "path": "/raw/service"},
		{"op": "remove", "path": "/raw/resource"},
		{"op": "add", "path": "/raw/Service", "value": svc},
		{"op": "add", "path": "/raw/Resource", "value": {"KubernetesDetails": {"KubernetesUserDetails": {"Username": "alice", "Groups": ["dev"]}}}},
	])
	v := verdict with input as make_input(pascal)
	"GuardDuty: IAM role platform-operators (Kubernetes user alice) sent CREATE /apis/apps/v1/namespaces/default/deployments (HTTP 201)" in v.reasons
}

# ---------------------------------------------------------------------------
# Suspicious

test_tor_and_unlisted_malicious_callers_are_suspicious if {
	tor := finding("CredentialAccess:Kubernetes/TorIPCaller", "high", [operator_key, operators], role_user, list_secrets)
	v := verdict with input as make_input(tor)
	v.verdict == "suspicious"
	has_reason(v, "through the Tor network (exit node 203.0.113.66)")
	unlisted := finding("Impact:Kubernetes/MaliciousIPCaller", "high", [operator_key, operators], role_user, list_secrets)
	w := verdict with input as make_input(unlisted)
	w.verdict == "suspicious"
	has_reason(w, "an address GuardDuty considers malicious, but the finding names no threat list")
}

test_anonymous_access_is_suspicious if {
	anon := {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
	f := finding("Discovery:Kubernetes/SuccessfulAnonymousAccess", "medium", [], anon, list_secrets)
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	v.confidence == 0.6
	"GuardDuty: an unauthenticated request succeeded on cluster platform from 203.0.113.66: GuardDuty Discovery:Kubernetes/SuccessfulAnonymousAccess finding" in v.reasons
	v.root_cause == "the cluster lets unauthenticated users act (RBAC grants system:anonymous or system:unauthenticated)"
	contains(v.impact, "Kubernetes user system:anonymous can do in cluster platform whatever its RBAC bindings allow (groups system:unauthenticated)")
}

test_anomalous_behaviour_is_suspicious if {
	f := finding("CredentialAccess:Kubernetes/AnomalousBehavior.SecretsAccessed", "medium", [operator_key, operators], role_user, list_secrets)
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	has_reason(v, "acted unlike its history: GuardDuty CredentialAccess:Kubernetes/AnomalousBehavior.SecretsAccessed finding")
	v.root_cause == "undetermined: the evidence does not show how the caller got access"
}

test_workloads_with_a_way_onto_the_node if {
	f := finding("PrivilegeEscalation:Kubernetes/AnomalousBehavior.WorkloadDeployed!PrivilegedContainer", "high", [operators, kube_proxy], role_user, api_service("create", "/api/v1/namespaces/kube-system/pods", "10.0.4.12", 201))
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	v.confidence == 0.7
	has_reason(v, "launched pod kube-system/kube-proxy-8xk2p with a way onto its node")
	contains(v.impact, "workload kube-system/kube-proxy-8xk2p runs with a way onto its node")
	mount := finding("Persistence:Kubernetes/ContainerWithSensitiveMount", "medium", [], role_user, list_secrets)
	w := verdict with input as make_input(mount)
	has_reason(w, "launched a workload with a way onto its node")
}

test_exec_in_kube_system if {
	f := finding("Execution:Kubernetes/ExecInKubeSystemPod", "medium", [operator_key, operators, kube_proxy], role_user, api_service("create", "/api/v1/namespaces/kube-system/pods/kube-proxy-8xk2p/exec", "203.0.113.201", 101))
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	"GuardDuty: IAM role platform-operators (Kubernetes user arn:aws:sts::123456789012:assumed-role/platform-operators/mallory) ran a command inside pod kube-system/kube-proxy-8xk2p, in the namespace of the cluster's own components" in v.reasons
}

test_exposed_clusters if {
	f := finding("Policy:Kubernetes/ExposedDashboard", "medium", [], {}, list_secrets)
	v := verdict with input as make_input(f)
	v.verdict == "suspicious"
	"GuardDuty: cluster platform is exposed: GuardDuty Policy:Kubernetes/ExposedDashboard finding" in v.reasons
	contains(v.impact, "an unknown caller can do in cluster platform")
}

test_other_high_findings_are_suspicious_and_medium_ones_inconclusive if {
	high := finding("Impact:Kubernetes/SomethingNew", "high", [], role_user, list_secrets)
	v := verdict with input as make_input(high)
	v.verdict == "suspicious"
	"GuardDuty: GuardDuty Impact:Kubernetes/SomethingNew finding (Impact:Kubernetes/SomethingNew, high severity)" in v.reasons
	medium := object.union(object.remove(high, ["title", "network"]), {"severity": "medium"})
	w := verdict with input as make_input(medium)
	w.verdict == "inconclusive"
	w.confidence == 0.5
	"GuardDuty reported Impact:Kubernetes/SomethingNew at medium severity, but the finding does not say enough to judge it" in w.reasons
	w.summary == "Impact:Kubernetes/SomethingNew on cluster platform could be neither confirmed nor explained; a responder should review it."
	not w.impact
}

# ---------------------------------------------------------------------------
# Other products and samples

test_guardduty_fields_of_another_product_are_not_read if {
	f := finding("Discovery:Kubernetes/MaliciousIPCaller", "medium", [operators], role_user, threat_listed(list_secrets))
	forged := object.union(f, {"source": "securityhub"})
	v := verdict with input as make_input(forged)
	v.verdict == "suspicious"
	not has_reason(v, "sent LIST")
	has_reason(v, "IAM role platform-operators called")
}

test_sample_findings_are_noted if {
	f := object.union(finding("Policy:Kubernetes/AnonymousAccessGranted", "medium", [], role_user, list_secrets), {"sample": true})
	v := verdict with input as make_input(f)
	"GuardDuty marked this finding as a generated sample" in v.reasons
}

test_an_iam_user_caller if {
	alice := {"type": "aws_iam_user", "id": "alice", "tags": {}, "details": {"user_name": "alice"}}
	user := {"username": "arn:aws:iam::123456789012:user/alice", "groups": []}
	f := finding("Discovery:Kubernetes/MaliciousIPCaller", "medium", [alice], user, threat_listed(list_secrets))
	v := verdict with input as make_input(f)
	v.verdict == "malicious"
	has_reason(v, "IAM user alice (Kubernetes user arn:aws:iam::123456789012:user/alice) called the Kubernetes API")
	contains(v.impact, "whatever its RBAC bindings allow;")
}
