package response.array

actions := [
	{"action": "stop", "target": "i-2"},
	{"action": "isolate", "target": "i-1"},
	{"action": "stop", "target": "i-2"},
	{"action": "isolate", "target": "i-0"},
]
