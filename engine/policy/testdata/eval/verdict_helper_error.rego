package verdict.helper_error

# A failing helper the verdict does not use must not fail it.
verdict := "benign"

unused := to_number("not a number")
