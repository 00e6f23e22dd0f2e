package test.stop_web

actions contains {"action": "stop", "target": r.id, "reason": "stop web-1"} if {
	some r in input.finding.resources
	r.type == "aws_instance"
	r.tags.Name == "web-1"
}
