package cordon.response

actions contains {"action": name, "reason": "respond to every finding"} if some name in input.rule.actions
