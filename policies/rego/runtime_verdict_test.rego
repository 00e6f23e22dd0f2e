package cordon.runtime.verdict_test

import data.cordon.runtime.verdict

# ---------------------------------------------------------------------------
# Inputs, shaped as the engine builds them: the host is the primary
# resource, with the container in its details, and the task, service and
# cluster follow (schema/runtime.go)

api_container := {"id": "3f1c2b4a5d6e", "name": "api", "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1", "container_runtime": "containerd", "privileged": false}

host := {
	"type": "aws_instance",
	"id": "i-0e1d2c3b4a5968778",
	"tags": {"Name": "payments-ecs-node", "aws:autoscaling:groupName": "payments-ecs-asg"},
	"details": {"instance_type": "m6i.large", "instance_state": "running", "private_ip": "10.20.3.41", "container": api_container},
}

task := {"type": "aws_ecs_task", "id": "0f9e8d7c6b5a4938", "tags": {}, "details": {"launch_type": "EC2"}}

ecs_service := {"type": "aws_ecs_service", "id": "payments-api", "tags": {}, "details": {}}

ecs_cluster := {"type": "aws_ecs_cluster", "id": "payments", "tags": {}, "details": {"name": "payments"}}

container_resource := {"type": "container", "id": "3f1c2b4a5d6e", "tags": {}, "details": api_container}

ecs_on_ec2 := [host, task, ecs_service, ecs_cluster, container_resource]

# The Fargate form: the cluster is primary, with the container in its
# details.
fargate_cluster := object.union(ecs_cluster, {"details": {"container": api_container}})

fargate := [fargate_cluster, task, ecs_service, container_resource]

pod := {"type": "kubernetes_pod", "id": "shop/checkout-7d9f8b6c5-x2k4p", "tags": {}, "details": {}}

eks_cluster := {"type": "aws_eks_cluster", "id": "platform", "tags": {}, "details": {}}

reverse_shell_process := {"name": "bash", "pid": 4121, "user": "app", "executablePath": "/bin/bash", "executableSha256": "d0a4"}

runtime_service(process, context) := {
	"serviceName": "guardduty",
	"featureName": "RuntimeMonitoring",
	"resourceRole": "TARGET",
	"runtimeDetails": {"process": process, "context": context},
}

scores := {"low": 2, "medium": 5, "high": 8}

finding(type, severity, resources, service, network) := {
	"id": "9e7c5a3e1c9a7e5c3a1e9c7a5e3c1a9e",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding.", [type]),
	"severity": severity,
	"severity_score": scores[severity],
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": resources[0],
	"resources": resources,
	"network": network,
	"raw": {"schemaVersion": "2.0", "type": type, "service": service},
}

outbound(ip, port) := {"direction": "OUTBOUND", "protocol": "TCP", "remote_ip": ip, "remote_port": port}

make_input(f, facts) := {
	"finding": f,
	"resource": f.resource,
	"facts": facts,
	"scope": {"name": "ec2_instances"},
	"rule": {"name": "runtime_threat", "actions": ["tag", "protect", "isolate", "detach", "deregister", "snapshot", "stop", "notify"]},
}

reverse_shell := finding("Execution:Runtime/ReverseShell", "high", ecs_on_ec2, runtime_service(reverse_shell_process, {}), outbound("198.51.100.77", 4444))

proc(pid, name, exe, cmdline, user) := {"pid": pid, "ppid": 1, "name": name, "exe": exe, "cmdline": cmdline, "user": user, "start_time": "2025-03-14T10:21:06Z", "sha256": ""}

triage(processes, connections) := {"triage": {
	"hostname": "ip-10-20-3-41",
	"kernel": "6.1",
	"collected_at": "2025-03-14T10:40:00Z",
	"processes": processes,
	"connections": connections,
	"users": [],
	"logins": [],
	"cron": [],
	"files": [],
	"authorized_keys": [],
	"truncated": false,
}}

shell_on_socket := triage(
	[proc(4121, "bash", "/bin/bash", "bash -i", "app")],
	[{"pid": 4121, "protocol": "tcp", "state": "ESTABLISHED", "local_ip": "10.20.3.41", "local_port": 51234, "remote_ip": "198.51.100.77", "remote_port": 4444}],
)

miner_on_host := triage([proc(2291, "xmrig", "/tmp/xmrig", "/tmp/xmrig -o stratum+tcp://pool.example:3333", "root")], [])

has_reason(doc, text) if {
	some r in doc.reasons
	contains(r, text)
}

# ---------------------------------------------------------------------------
# Malicious

test_reverse_shell_in_an_ecs_container_on_a_host if {
	v := verdict with input as make_input(reverse_shell, {})
	v.verdict == "malicious"
	v.confidence == 0.8
	"GuardDuty Runtime Monitoring: a process handed a shell to a network connection (a reverse shell): bash (pid 4121, user app, /bin/bash), talking to address 198.51.100.77" in v.reasons
	"GuardDuty: it ran in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) of ECS task 0f9e8d7c6b5a4938, ECS service payments-api, ECS cluster payments on instance i-0e1d2c3b4a5968778" in v.reasons
	`no host triage (collector "triage" gathered nothing): nothing on the instance itself could be checked` in v.reasons
	v.root_cause == "a process handed a shell to a network connection (a reverse shell): bash (pid 4121, user app, /bin/bash)"
	v.summary == concat("", ["The workload container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) on instance i-0e1d2c3b4a5968778 is compromised: ", v.root_cause, "."])
	contains(v.impact, "instance i-0e1d2c3b4a5968778 also runs the other containers scheduled on it; isolating it cuts them off too")
}

test_the_host_confirms_the_detection if {
	v := verdict with input as make_input(reverse_shell, shell_on_socket)
	v.verdict == "malicious"
	v.confidence == 0.99
	has_reason(v, "triage: reverse shell: bash (pid 4121, user app, /bin/bash) holds an established connection to 198.51.100.77:4444")
	startswith(v.root_cause, "an attacker has an interactive shell on the instance")
}

test_the_host_alone if {
	f := finding("Execution:Runtime/NewBinaryExecuted", "medium", ecs_on_ec2, runtime_service({}, {}), null)
	v := verdict with input as make_input(f, miner_on_host)
	v.verdict == "malicious"
	v.confidence == 0.95
	has_reason(v, "triage: cryptocurrency miner running: xmrig")
}

test_detection_and_threat_list_agree if {
	svc := object.union(runtime_service({"name": "kdevtmpfsi", "pid": 7}, {}), {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Kinsing"]}]}})
	f := finding("Backdoor:Runtime/C&CActivity.B!DNS", "high", ecs_on_ec2, svc, {"direction": "OUTBOUND", "domain": "c2.attacker.example"})
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty Runtime Monitoring: the workload queried a domain of a known command-and-control server: kdevtmpfsi (pid 7, user ?, unknown executable), talking to domain c2.attacker.example" in v.reasons
	"GuardDuty: domain c2.attacker.example is on threat list ProofPoint (Kinsing)" in v.reasons
}

test_malicious_domain_lookup if {
	f := finding("Impact:Runtime/MaliciousDomainRequest.Reputation", "high", ecs_on_ec2, runtime_service({}, {}), {"domain": "update.malware.example"})
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	v.root_cause == "the workload queried a domain known to be malicious"
}

test_an_unknown_high_fidelity_family_falls_back_to_the_title if {
	f := object.union(finding("Trojan:Runtime/SomethingNew", "high", ecs_on_ec2, runtime_service({}, {}), null), {"title": ""})
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	"GuardDuty Runtime Monitoring: Trojan:Runtime/SomethingNew" in v.reasons
}

# ---------------------------------------------------------------------------
# Suspicious

test_new_binary_is_suspicious if {
	ctx := {"modifyingProcess": {"name": "curl", "executablePath": "/usr/bin/curl"}}
	f := finding("Execution:Runtime/NewBinaryExecuted", "medium", ecs_on_ec2, runtime_service({"name": "kworkerds", "pid": 48213, "user": "root", "executablePath": "/tmp/.x/kworkerds"}, ctx), null)
	v := verdict with input as make_input(f, {})
	v.verdict == "suspicious"
	v.confidence == 0.6
	"GuardDuty Runtime Monitoring: GuardDuty Execution:Runtime/NewBinaryExecuted finding (Execution:Runtime/NewBinaryExecuted, medium severity): kworkerds (pid 48213, user root, /tmp/.x/kworkerds)" in v.reasons
	"GuardDuty Runtime Monitoring recorded the process that wrote the file: /usr/bin/curl" in v.reasons
	v.root_cause == "undetermined: the evidence does not show how the workload was affected"
	v.summary == "The workload container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) on instance i-0e1d2c3b4a5968778 shows signs of compromise that need a responder: Execution:Runtime/NewBinaryExecuted at medium severity."
	not contains(v.impact, "isolating it")
}

test_a_telling_detection_below_high_is_suspicious if {
	f := finding("Execution:Runtime/ReverseShell", "medium", ecs_on_ec2, runtime_service({}, {}), null)
	v := verdict with input as make_input(f, {})
	v.verdict == "suspicious"
	"GuardDuty Runtime Monitoring, at medium severity: a process handed a shell to a network connection (a reverse shell)" in v.reasons
}

# ---------------------------------------------------------------------------
# Malware Protection's scans of container workloads

scan_service(threats) := {"serviceName": "guardduty", "ebsVolumeScanDetails": {"scanDetections": {"threatDetectedByName": {"threatNames": threats}}}}

kinsing := {"name": "Linux.Trojan.Kinsing", "filePaths": [{"filePath": "/var/lib/docker/overlay2/abc/merged/tmp/kdevtmpfsi"}]}

test_malware_in_a_container if {
	f := finding("Execution:ECS/MaliciousFile", "high", ecs_on_ec2, scan_service([kinsing]), null)
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	"GuardDuty Malware Protection found Linux.Trojan.Kinsing in /var/lib/docker/overlay2/abc/merged/tmp/kdevtmpfsi in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1)" in v.reasons
	v.root_cause == "malware is in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) (Linux.Trojan.Kinsing in /var/lib/docker/overlay2/abc/merged/tmp/kdevtmpfsi)"
}

test_malware_without_named_threats if {
	f := finding("Execution:Container/MaliciousFile", "medium", ecs_on_ec2, {"serviceName": "guardduty"}, null)
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	"GuardDuty Malware Protection: GuardDuty Execution:Container/MaliciousFile finding, in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1)" in v.reasons
	v.root_cause == "GuardDuty Execution:Container/MaliciousFile finding"
}

test_suspicious_files_in_a_container if {
	nmap := {"name": "HackTool.Nmap", "filePaths": [{"filePath": "/usr/bin/nmap"}]}
	masscan := {"name": "HackTool.Masscan", "filePaths": []}
	f := finding("Execution:Kubernetes/SuspiciousFile", "low", [host, pod, eks_cluster], scan_service([nmap, masscan]), null)
	v := verdict with input as make_input(f, {})
	v.verdict == "suspicious"
	v.confidence == 0.7
	"GuardDuty Malware Protection found HackTool.Nmap in /usr/bin/nmap in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) (Execution:Kubernetes/SuspiciousFile, low severity)" in v.reasons
	"GuardDuty: it ran in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) of pod shop/checkout-7d9f8b6c5-x2k4p, EKS cluster platform on instance i-0e1d2c3b4a5968778" in v.reasons
	no_names := verdict with input as make_input(json.patch(f, [{"op": "replace", "path": "/raw/service", "value": {}}]), {})
	"GuardDuty Malware Protection: GuardDuty Execution:Kubernetes/SuspiciousFile finding (low severity)" in no_names.reasons
}

# ---------------------------------------------------------------------------
# Without a host, and other shapes

test_fargate_is_reported_with_what_to_do_by_hand if {
	f := finding("Execution:Runtime/SuspiciousCommand", "medium", fargate, runtime_service({"name": "sh", "pid": 77}, {"commandLineExample": "sh -c 'echo cHdk | base64 -d | sh'"}), null)
	v := verdict with input as make_input(f, {})
	v.verdict == "suspicious"
	"no host to examine or contain: container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) in ECS cluster payments runs without an EC2 instance GuardDuty names (AWS Fargate), and cordon cannot isolate a task or pod; stop it, or scale its service to zero, by hand" in v.reasons
	"GuardDuty: it ran in container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) of ECS task 0f9e8d7c6b5a4938, ECS service payments-api, ECS cluster payments" in v.reasons
	"GuardDuty Runtime Monitoring recorded the command line: sh -c 'echo cHdk | base64 -d | sh'" in v.reasons
	not has_reason(v, "no host triage")
}

test_privileged_containers_are_named if {
	privileged := json.patch(host, [{"op": "replace", "path": "/details/container", "value": {"name": "batch-worker", "privileged": true}}])
	f := finding("CryptoCurrency:Runtime/BitcoinTool.B", "high", [privileged], runtime_service({}, {}), outbound("203.0.113.9", 3333))
	v := verdict with input as make_input(f, {})
	"container batch-worker runs privileged: whoever controls it controls instance i-0e1d2c3b4a5968778" in v.reasons
	contains(v.impact, "container batch-worker is privileged: the host instance i-0e1d2c3b4a5968778 and every other container on it are exposed")
	on_fargate := json.patch(fargate_cluster, [{"op": "replace", "path": "/details/container", "value": {"privileged": true}}])
	w := verdict with input as make_input(finding("CryptoCurrency:Runtime/BitcoinTool.B", "high", [on_fargate], runtime_service({}, {}), null), {})
	"container the container runs privileged: whoever controls it controls its node" in w.reasons
}

test_labels_without_a_container if {
	bare_host := object.remove(host, ["details"])
	v := verdict with input as make_input(finding("Execution:Runtime/SuspiciousTool", "medium", [bare_host], runtime_service({}, {}), null), {})
	v.summary == "Instance i-0e1d2c3b4a5968778 shows signs of compromise that need a responder: Execution:Runtime/SuspiciousTool at medium severity."
	"GuardDuty: it ran on instance i-0e1d2c3b4a5968778" in v.reasons
	contains(v.impact, "whoever controls instance i-0e1d2c3b4a5968778 can use")
	bare_cluster := {"type": "aws_eks_cluster", "id": "platform", "tags": {}, "details": {}}
	w := verdict with input as make_input(finding("Execution:Runtime/SuspiciousTool", "medium", [bare_cluster], runtime_service({}, {}), null), {})
	w.summary == "The workload EKS cluster platform shows signs of compromise that need a responder: Execution:Runtime/SuspiciousTool at medium severity."
	bare_container := {"type": "container", "id": "3f1c2b4a5d6e", "tags": {}, "details": {}}
	x := verdict with input as make_input(finding("Execution:Runtime/SuspiciousTool", "medium", [bare_container], runtime_service({}, {}), null), {})
	x.summary == "The workload container 3f1c2b4a5d6e shows signs of compromise that need a responder: Execution:Runtime/SuspiciousTool at medium severity."
	not has_reason(x, "it ran")
}

test_a_type_this_package_does_not_know_is_inconclusive if {
	f := finding("Discovery:Something/Else", "medium", ecs_on_ec2, {"serviceName": "guardduty"}, null)
	v := verdict with input as make_input(f, {})
	v.verdict == "inconclusive"
	v.confidence == 0.5
	"GuardDuty reported Discovery:Something/Else at medium severity, but neither the finding nor the facts confirm or explain it" in v.reasons
	v.summary == "Discovery:Something/Else on container api (image 123456789012.dkr.ecr.us-west-2.amazonaws.com/payments-api:2025.03.1) on instance i-0e1d2c3b4a5968778 could be neither confirmed nor explained; a responder should review it."
	not v.impact
}

test_sample_findings_are_noted if {
	f := object.union(reverse_shell, {"sample": true})
	v := verdict with input as make_input(f, {})
	"GuardDuty marked this finding as a generated sample" in v.reasons
}

test_every_verdict_is_in_the_enum if {
	inputs := [
		make_input(reverse_shell, {}),
		make_input(reverse_shell, shell_on_socket),
		make_input(finding("Execution:Runtime/SuspiciousCommand", "medium", fargate, runtime_service({}, {}), null), {}),
		make_input(finding("Discovery:Something/Else", "low", fargate, {}, null), {}),
	]
	every x in inputs {
		v := verdict with input as x
		v.verdict in {"malicious", "suspicious", "benign", "inconclusive"}
		v.confidence >= 0
		v.confidence <= 1
		count(v.reasons) > 0
		is_string(v.summary)
		is_string(v.root_cause)
	}
}
