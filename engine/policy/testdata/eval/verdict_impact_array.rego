package verdict.impact_array

verdict := "malicious"

impact := ["a"]
