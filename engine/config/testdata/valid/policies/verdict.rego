package cordon.verdict

verdict := "inconclusive"
