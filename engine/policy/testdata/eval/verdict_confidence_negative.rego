package verdict.confidence_negative

verdict := "malicious"

confidence := -0.1
