package verdict.confidence_high

verdict := "malicious"

confidence := 1.5
