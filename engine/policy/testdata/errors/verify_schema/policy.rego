package cordon.verdict

default verdict := "inconclusive"

# json.verify_schema compiles the schema, loading what its $ref names.
verdict := "benign" if json.verify_schema({"$ref": "file:///etc/hostname"})[0]
