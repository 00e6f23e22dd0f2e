package cordon.response

actions contains {"action": "isolate"} if input.verdict.verdcit == "malicious"
