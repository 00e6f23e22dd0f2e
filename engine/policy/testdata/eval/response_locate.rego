package response.locate

import data.cordon.ec2.verdict

actions contains {"action": "snapshot"} if input.finding.count > 0

actions contains {"action": "isolate", "target": input.resource.id} if {
	verdict.backdoor
}

actions contains a if {
	some id in ["i-1", "i-2"]
	a := {"action": "stop", "target": id, "reason": "stopped"}
}

actions contains {"action": "isolate", "target": "i-other"} if input.finding.count > 100
