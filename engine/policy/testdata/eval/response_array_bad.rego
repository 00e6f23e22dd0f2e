package response.array_bad

actions := [
	{"action": "isolate"},
	{"action": 1},
]
