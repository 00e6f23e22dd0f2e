package response.split

# The same package, another file.
actions contains {"action": "stop"} if input.finding.count > 1
