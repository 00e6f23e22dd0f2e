package verdict.reasons_object

verdict := "malicious"

reasons := {"a": 1}
