package response.conflict

actions := [] if input.finding.count > 0

actions := [{"action": "isolate"}] if input.finding.count > 0
