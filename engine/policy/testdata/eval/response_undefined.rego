package response.undefined

actions := [{"action": "isolate"}] if input.finding.severity == "critical"
