package test.response

actions contains {"action": name, "reason": "respond"} if some name in input.rule.actions
