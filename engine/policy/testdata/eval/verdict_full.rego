package verdict.full

verdict := "malicious"

confidence := 0.75

reasons contains "b second"

reasons contains "a first"

summary := "s"

root_cause := "rc"

impact := "im"
