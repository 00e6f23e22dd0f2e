package response.set

actions contains {"action": "isolate"}

actions contains {"action": "snapshot", "target": input.resource.id, "reason": "evidence"}

actions contains {"action": "notify", "target": "i-99999999", "reason": "a"}

actions contains {"action": "notify", "target": "i-99999999", "reason": "b"}
