package test.response

allowed(name) if name in input.rule.actions

actions contains {"action": name, "reason": sprintf("verdict %s", [input.verdict.verdict])} if {
	input.verdict.verdict == "malicious"
	some name in input.rule.actions
}

actions contains {"action": "tag", "reason": "suspicious"} if {
	input.verdict.verdict == "suspicious"
	allowed("tag")
}

actions contains {"action": "notify", "reason": "suspicious"} if {
	input.verdict.verdict == "suspicious"
	allowed("notify")
}
