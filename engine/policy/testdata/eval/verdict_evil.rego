package verdict.evil

# the next rule has the bad value
verdict := "evil" if input.finding.count > 0
