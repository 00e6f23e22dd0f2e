# Package cordon.runtime.verdict judges what GuardDuty saw run on a host or
# in a container: Runtime Monitoring's detections (*:Runtime/*: processes,
# files, network and DNS seen by its agent on EC2 instances, in ECS tasks
# and in EKS pods) and Malware Protection's scans of container workloads
# (Execution:ECS|Kubernetes|Container/MaliciousFile and SuspiciousFile).
#
# The finding's primary resource is the host where GuardDuty names one,
# with the container in resource.details.container; without a host
# (Fargate) it is the ECS or EKS cluster. Evidence, strongest first:
#   1. the host itself: on an instance, the triage collector's facts
#      (facts.triage, type aws_ssm_triage), weighed exactly as
#      cordon.ec2.verdict weighs them (its host_evidence and corroboration);
#   2. the detector: a detection that is malicious in itself (a reverse
#      shell, a miner or known malware run, a container escape, code
#      injected into another process, traffic of a high-fidelity family)
#      at high severity, a threat list naming the remote end, malware a
#      scan found;
#   3. everything else the agent reports (a new binary or library, a
#      suspicious command or tool, the Docker socket opened …) needs a
#      responder: suspicious.
# The container's context (its image, a privileged container, the task or
# pod it belongs to) is stated in the reasons and the impact; it does not
# change the verdict. Missing triage is said and lowers the confidence.
package cordon.runtime.verdict

import data.cordon.ec2.verdict as ec2
import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(host_evidence) > 0
} else := "malicious" if {
	count(detector_evidence) > 0
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "inconclusive"

confidence := 0.99 if {
	count(host_evidence) > 0
	count(detector_evidence) > 0
} else := 0.95 if {
	count(host_evidence) > 0
} else := 0.9 if {
	count(detector_evidence) > 1
} else := 0.8 if {
	verdict == "malicious"
} else := 0.7 if {
	verdict == "suspicious"
	count(suspicious_evidence) > 1
} else := 0.6 if {
	verdict == "suspicious"
} else := 0.5

reasons contains r if some r in evidence

# evidence is what the verdict rests on.
evidence := (host_evidence | detector_evidence) | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := {sprintf("GuardDuty reported %s at %s severity, but neither the finding nor the facts confirm or explain it", [input.finding.type, input.finding.severity])}

# Where it ran, and what else the agent recorded, whatever the verdict.
reasons contains sprintf("GuardDuty: it ran %s", [where]) if where

reasons contains sprintf("GuardDuty Runtime Monitoring recorded %s: %s", [label, value]) if {
	some [label, value] in lib.runtime_context_facts
}

reasons contains sprintf("container %s runs privileged: whoever controls it controls %s", [container_label, host_label]) if {
	container.privileged == true
}

reasons contains sprintf("no host triage (%s): nothing on the instance itself could be checked", [lib.gap("triage")]) if {
	host
	not triage
}

reasons contains sprintf("no host to examine or contain: %s runs without an EC2 instance GuardDuty names (AWS Fargate), and cordon cannot isolate a task or pod; stop it, or scale its service to zero, by hand", [workload_label]) if {
	not host
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("%s is compromised: %s.", [subject, root_cause]) if {
	verdict == "malicious"
} else := sprintf("%s shows signs of compromise that need a responder: %s at %s severity.", [subject, input.finding.type, input.finding.severity]) if {
	verdict == "suspicious"
} else := sprintf("%s on %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, workload_label])

root_cause := ec2.compromise if {
	count(host_evidence) > 0
} else := sprintf("malware is in container %s (%s)", [container_label, concat("; ", lib.malware_detections)]) if {
	malware_found
	count(lib.malware_detections) > 0
} else := sprintf("%s: %s", [detection, process_label]) if {
	verdict == "malicious"
	process_label
} else := detection if {
	verdict == "malicious"
} else := "undetermined: the evidence does not show how the workload was affected"

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
}

impact_parts contains [1, sprintf("whoever controls %s can use its network access and the credentials of its task or pod role", [workload_label])]

impact_parts contains [2, sprintf("container %s is privileged: the host %s and every other container on it are exposed", [container_label, host_label])] if {
	container.privileged == true
}

impact_parts contains [3, sprintf("%s also runs the other containers scheduled on it; isolating it cuts them off too", [host_label])] if {
	host
	verdict == "malicious"
}

# ---------------------------------------------------------------------------
# Evidence

# host_evidence is the host's triage, judged by cordon.ec2.verdict: only
# for a finding whose primary resource is the instance.
host_evidence := ec2.host_evidence | ec2.corroboration if {
	host
} else := set()

detector_evidence contains sprintf("GuardDuty Runtime Monitoring: %s%s%s", [detection, process_suffix, talking_suffix]) if {
	telling
	lib.at_least("high")
}

detector_evidence contains sprintf("GuardDuty: %s is on threat list %s%s", [indicator, list, threat_names_suffix]) if {
	some list in lib.threat_lists
}

detector_evidence contains sprintf("GuardDuty Malware Protection found %s in container %s", [d, container_label]) if {
	malware_found
	some d in lib.malware_detections
}

detector_evidence contains sprintf("GuardDuty Malware Protection: %s, in container %s", [finding_title, container_label]) if {
	malware_found
	count(lib.malware_detections) == 0
}

suspicious_evidence contains sprintf("GuardDuty Runtime Monitoring, at %s severity: %s%s%s", [input.finding.severity, detection, process_suffix, talking_suffix]) if {
	telling
	not lib.at_least("high")
}

suspicious_evidence contains sprintf("GuardDuty Runtime Monitoring: %s (%s, %s severity)%s%s", [finding_title, input.finding.type, input.finding.severity, process_suffix, talking_suffix]) if {
	lib.finding_target_kind == "Runtime"
	not telling
}

suspicious_evidence contains sprintf("GuardDuty Malware Protection found %s in container %s (%s, %s severity)", [d, container_label, input.finding.type, input.finding.severity]) if {
	malware_kind
	not malware_found
	some d in lib.malware_detections
}

suspicious_evidence contains sprintf("GuardDuty Malware Protection: %s (%s severity)", [finding_title, input.finding.severity]) if {
	malware_kind
	not malware_found
	count(lib.malware_detections) == 0
}

# malware_kind holds for Malware Protection's findings on container
# workloads, named by what runs them.
malware_kind if lib.finding_target_kind in {"ECS", "Kubernetes", "Container"}

# ---------------------------------------------------------------------------
# Detections

# detections describe what Runtime Monitoring saw for the threats that are
# malicious in themselves, by threat name.
detections := {
	"ReverseShell": "a process handed a shell to a network connection (a reverse shell)",
	"CryptoMinerExecuted": "a cryptocurrency miner was started",
	"MaliciousFileExecuted": "a known malicious file was executed",
	"RuncContainerEscape": "a process tried to escape its container through runc",
	"CGroupsReleaseAgentModified": "a process changed a cgroup release agent, a way out of the container",
	"ProcessInjection.Proc": "a process injected code into another through /proc",
	"ProcessInjection.Ptrace": "a process injected code into another with ptrace",
	"ProcessInjection.VirtualMemoryWrite": "a process wrote into another's memory",
	"FilelessExecution": "a process runs from memory, with no file on disk",
}

# telling holds for the detections above and GuardDuty's high-fidelity
# network families (command and control, mining, trojans) and malicious
# domain lookups.
telling if detections[lib.finding_threat]

telling if lib.finding_purpose in lib.high_fidelity_purposes

telling if {
	lib.finding_purpose == "Impact"
	lib.threat_family(lib.finding_threat) in {"BitcoinDomainRequest", "MaliciousDomainRequest"}
}

detection := d if {
	d := detections[lib.finding_threat]
} else := sprintf("the workload %s", [a]) if {
	a := lib.threat_activity
} else := finding_title

# malware_found holds for Malware Protection finding malware in a container
# workload's files (Execution:…/MaliciousFile), at medium severity or more:
# its severity is the worst threat's, so a low one found only grayware.
malware_found if {
	lib.finding_purpose == "Execution"
	lib.finding_threat == "MaliciousFile"
	lib.at_least("medium")
}

# ---------------------------------------------------------------------------
# The process, the container, the workload and the host

process_label := lib.process_label(lib.runtime_process) if count(lib.runtime_process) > 0

process_suffix := sprintf(": %s", [process_label]) if {
	process_label
} else := ""

talking_suffix := sprintf(", talking to %s", [indicator]) if {
	indicator
} else := ""

container := input.resource.details.container

container_label := sprintf("%s (image %s)", [container.name, container.image]) if {
	lib.non_empty_string(container.name)
	lib.non_empty_string(container.image)
} else := n if {
	n := container.name
	lib.non_empty_string(n)
} else := "the container"

# host holds when the primary resource is the instance the workload runs on.
host if input.resource.type == "aws_instance"

host_label := sprintf("instance %s", [input.resource.id]) if {
	host
} else := "its node"

# owners are the task, service, pod and cluster the container belongs to,
# as "ECS task 0f9e…", in the finding's order.
owner_kinds := {
	"aws_ecs_task": "ECS task",
	"aws_ecs_service": "ECS service",
	"aws_ecs_cluster": "ECS cluster",
	"aws_eks_cluster": "EKS cluster",
	"kubernetes_pod": "pod",
	"kubernetes_deployment": "deployment",
	"kubernetes_daemonset": "daemonset",
	"kubernetes_stateful_set": "statefulset",
	"kubernetes_job": "job",
	"kubernetes_cron_job": "cron job",
	"kubernetes_workload": "workload",
}

owners := [label |
	kinds := owner_kinds
	some [_, label] in sort([[rank, sprintf("%s %s", [kinds[r.type], r.id])] |
		some r in input.finding.resources
		rank := owner_rank[r.type]
	])
]

# owner_rank orders owners innermost first: task, service, workload, cluster.
owner_rank := {
	"aws_ecs_task": 1, "aws_ecs_service": 2,
	"kubernetes_pod": 1, "kubernetes_deployment": 2, "kubernetes_daemonset": 2, "kubernetes_stateful_set": 2,
	"kubernetes_job": 2, "kubernetes_cron_job": 2, "kubernetes_workload": 2,
	"aws_ecs_cluster": 3, "aws_eks_cluster": 3,
}

# where says where it ran: "in container api (image …) of ECS task …, ECS
# service …, ECS cluster …, on instance i-…".
where := concat(" ", array.concat(
	[sprintf("in container %s", [container_label]) | container],
	array.concat(
		[sprintf("of %s", [concat(", ", owners)]) | count(owners) > 0],
		[sprintf("on %s", [host_label]) | host],
	),
)) if {
	(count(owners) + count([1 | container])) + count([1 | host]) > 0
}

# workload_label names what ran it, for summaries.
workload_label := sprintf("container %s on %s", [container_label, host_label]) if {
	container
	host
} else := sprintf("container %s in %s %s", [container_label, kind, input.resource.id]) if {
	container
	kind := owner_kinds[input.resource.type]
} else := sprintf("%s %s", [kind, input.resource.id]) if {
	kind := owner_kinds[input.resource.type]
} else := sprintf("instance %s", [input.resource.id]) if {
	host
} else := sprintf("%s %s", [input.resource.type, input.resource.id])

subject := sprintf("The workload %s", [workload_label]) if {
	container
} else := sprintf("Instance %s", [input.resource.id]) if {
	host
} else := sprintf("The workload %s", [workload_label])

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

indicator := sprintf("domain %s", [lib.domain]) if {
	lib.domain
} else := sprintf("address %s", [lib.remote_ip]) if {
	lib.remote_ip
}

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""

triage := input.facts.triage if lib.usable("triage")
