# Contain instances a miner runs on; notify of anything not benign.
package fixture.response

actions contains {"action": "isolate", "reason": "a miner runs on the instance"} if {
	input.verdict.verdict == "malicious"
	input.resource.type == "aws_instance"
}

actions contains {"action": "stop", "reason": "stop the mining"} if {
	input.verdict.verdict == "malicious"
	input.resource.type == "aws_instance"
}

actions contains {"action": "notify", "reason": sprintf("%s finding", [input.verdict.verdict])} if {
	input.verdict.verdict != "benign"
}

# Rule keys does not allow stop: its plans fail.
actions contains {"action": "stop", "reason": "stop the key's user"} if {
	input.rule.name == "keys"
}
