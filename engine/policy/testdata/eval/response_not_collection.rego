package response.not_collection

actions := "isolate"
