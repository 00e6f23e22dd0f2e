package verdict.confidence_string

verdict := "malicious"

confidence := "high"
