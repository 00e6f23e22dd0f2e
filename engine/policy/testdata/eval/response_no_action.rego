package response.no_action

actions contains {"target": "i-1"}
