package response.empty

actions := []
