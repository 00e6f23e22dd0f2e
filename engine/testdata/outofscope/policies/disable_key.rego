package test.disable_key

actions contains {"action": "disable_key", "reason": "disable the key"}
