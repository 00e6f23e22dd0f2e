package cordon.verdict

default verdict := "inconclusive"

# An inline schema in an annotation is compiled with the policies; its $ref
# must not reach a file.
# METADATA
# schemas:
#   - input.facts.extra: {"type": "object", "properties": {"x": {"$ref": "file:///etc/hostname"}}}
verdict := "malicious" if input.facts.extra.x == "y"
