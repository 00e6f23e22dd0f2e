package test.verdict

verdict := "malicious"
