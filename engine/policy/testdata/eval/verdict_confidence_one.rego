package verdict.confidence_one

verdict := "malicious"

confidence := 1
