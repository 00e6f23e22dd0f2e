package test.tag_only

actions contains {"action": "tag", "reason": "high severity on a public instance"}
