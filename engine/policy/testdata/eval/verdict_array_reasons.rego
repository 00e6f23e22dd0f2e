package verdict.array_reasons

verdict := "suspicious"

reasons := ["z last", "a first", "z last"]
