package verdict.minimal

verdict := "benign"
