package verdict.empty_reasons

verdict := "benign"

reasons := set()
