package response.empty_action

actions contains {"action": ""}
