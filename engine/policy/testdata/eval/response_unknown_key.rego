package response.unknown_key

actions contains {"action": "isolate", "targte": "i-1"}
