package verdict.builtin_error

verdict := "malicious" if to_number(input.finding.type) > 1
