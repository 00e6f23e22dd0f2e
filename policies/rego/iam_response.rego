# Package cordon.iam.response chooses the response to an IAM verdict
# (cordon.iam.verdict), from the actions the matched rule allows:
#
#   malicious     disable_key (a long-term key), deny_all (its user or role), notify
#   suspicious    notify
#   inconclusive  notify
#   benign        nothing
#
# Credentials are contained only on a malicious verdict: disabling a key or
# denying a principal breaks whatever legitimately uses it, which a
# suspicion does not justify. Temporary (STS) keys cannot be disabled; their
# role's sessions are revoked instead (aws_iam_deny_all on a role denies
# sessions issued before now). Root is left to a human.
package cordon.iam.response

import data.cordon.lib

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

key := input.resource.id if input.resource.type == "aws_iam_access_key"

temporary_key if startswith(key, "ASIA")

root if input.resource.details.user_type == "Root"

actions contains {
	"action": "disable_key",
	"target": key,
	"reason": sprintf("deactivate access key %s (reversible): the attacker's copy stops working at once", [key]),
} if {
	verdict == "malicious"
	not temporary_key
	not root
	lib.allowed("disable_key")
}

actions contains {
	"action": "deny_all",
	"target": p.id,
	"reason": "attach a deny-all policy to the user, so none of its other keys or console sessions can be used either",
} if {
	verdict == "malicious"
	some p in input.finding.resources
	p.type == "aws_iam_user"
	lib.allowed("deny_all")
}

actions contains {
	"action": "deny_all",
	"target": p.id,
	"reason": "deny every session of the role issued before now: the stolen temporary credentials stop working, and legitimate holders get fresh ones",
} if {
	verdict == "malicious"
	some p in input.finding.resources
	p.type == "aws_iam_role"
	lib.allowed("deny_all")
}

actions contains {
	"action": "notify",
	"target": input.resource.id,
	"reason": sprintf("%s (confidence %s): %s%s", [verdict, lib.decimal(confidence), headline, notes_suffix]),
} if {
	verdict != "benign"
	lib.allowed("notify")
}

notes contains sprintf("key %s not disabled: temporary STS credentials can only be revoked through their role", [key]) if {
	verdict == "malicious"
	temporary_key
}

notes contains "not contained: root credentials must be rotated by someone signed in as root" if {
	verdict == "malicious"
	root
}

headline := s if {
	s := input.verdict.summary
	s != ""
} else := sprintf("%s on %s", [input.finding.type, input.resource.id])

notes_suffix := concat("", [sprintf(" [%s]", [n]) | some n in notes])
