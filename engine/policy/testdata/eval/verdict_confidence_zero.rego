package verdict.confidence_zero

verdict := "benign"

confidence := 0
