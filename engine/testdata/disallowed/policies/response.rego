package test.response

actions contains {"action": "notify"}

# stop is not among the actions of rule "keys".
actions contains {"action": "stop", "reason": "always stop"} if {
	input.rule.name == "keys"
}
