package response.non_object

actions contains "isolate"
