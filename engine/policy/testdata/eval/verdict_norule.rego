package verdict.norule

something_else := true
