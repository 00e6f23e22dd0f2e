package verdict.number

verdict := 3
