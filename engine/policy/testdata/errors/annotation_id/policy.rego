package cordon.verdict

default verdict := "inconclusive"

# A fragment $ref resolves against the schema's id: a file:// id would make
# "#" mean the file.
# METADATA
# schemas:
#   - input.facts.extra: {"$id": "file:///etc/hostname", "$ref": "#"}
verdict := "malicious" if input.facts.extra.x == "y"
