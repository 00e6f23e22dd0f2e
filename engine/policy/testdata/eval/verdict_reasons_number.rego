package verdict.reasons_number

verdict := "malicious"

reasons contains "fine"

reasons contains 3
