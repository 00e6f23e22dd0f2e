package verdict.summary_number

verdict := "malicious"

summary := 42
