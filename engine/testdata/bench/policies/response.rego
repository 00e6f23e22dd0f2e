package cordon.response

actions contains {"action": "isolate", "reason": "contain the instance"} if input.verdict.verdict == "malicious"

actions contains {"action": "snapshot", "reason": "keep the disks as evidence"} if input.verdict.verdict in {"malicious", "suspicious"}

actions contains {"action": "stop", "reason": "stop the workload"} if {
	input.verdict.verdict == "malicious"
	input.verdict.confidence >= 0.9
}
