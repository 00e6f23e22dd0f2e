package cordon.verdict

verdict := "malicious" if rand.intn("coin", 2) == 1
