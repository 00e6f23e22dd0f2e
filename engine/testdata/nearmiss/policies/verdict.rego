package cordon.verdict

verdict := "malicious"
