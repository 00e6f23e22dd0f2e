package response.bad_type

actions contains {"action": "isolate", "target": 7}
