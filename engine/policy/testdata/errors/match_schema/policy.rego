package cordon.verdict

# json.match_schema would read the file a $ref names, whatever allow_net says.
verdict := "benign" if {
	[ok, _] := json.match_schema({}, {"$ref": "file:///etc/hostname"})
	ok
}
