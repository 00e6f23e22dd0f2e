package verdict.root_cause_bool

verdict := "malicious"

root_cause := true
