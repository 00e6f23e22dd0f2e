package verdict.schema_ref

# json.match_schema must not follow a remote $ref (allow_net is empty).
verdict := "benign" if {
	[ok, _] := json.match_schema({}, {"$ref": "http://127.0.0.1:1/schema.json"})
	ok
}
