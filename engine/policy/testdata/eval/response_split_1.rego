package response.split

actions contains {"action": "snapshot"}
