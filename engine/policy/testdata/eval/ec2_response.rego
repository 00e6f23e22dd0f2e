package cordon.ec2.response

malicious if input.verdict.verdict == "malicious"

actions contains {"action": "snapshot", "reason": "preserve evidence"} if malicious

actions contains {"action": "isolate", "target": input.resource.id} if malicious

actions contains {"action": "notify", "reason": input.verdict.summary} if input.verdict.verdict in {"malicious", "suspicious"}
