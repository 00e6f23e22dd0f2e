# Package cordon.attack_sequence.response chooses the response to an
# attack sequence (cordon.attack_sequence.verdict), from the actions the
# matched rule allows. On a malicious verdict it contains every resource
# the sequence names that cordon has an action for:
#
#   access keys   disable_key (long-term keys; a temporary key's role is
#                 not named by the sequence, so it is left to a human)
#   IAM users     deny_all
#   IAM roles     deny_all (sessions issued before now)
#   instances     protect, isolate, snapshot: kept and cut off, not
#                 stopped, since no triage weighed them (the snapshots carry
#                 the incident's tag)
#
# and notifies, listing what it could not contain (buckets, clusters,
# containers). A suspicious sequence is notified only.
package cordon.attack_sequence.response

import data.cordon.lib

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

contain if verdict == "malicious"

instances := [r | some r in input.finding.resources; r.type == "aws_instance"]

actions contains {
	"action": "disable_key",
	"target": k.id,
	"reason": sprintf("deactivate access key %s (reversible): the attack sequence runs on it", [k.id]),
} if {
	contain
	some k in lib.finding_keys
	lib.long_term_key(k)
	lib.allowed("disable_key")
}

actions contains {
	"action": "deny_all",
	"target": p.id,
	"reason": sprintf("deny %s everything (for a role, its sessions issued before now): the attack sequence acts as it", [p.id]),
} if {
	contain
	some p in lib.finding_principals
	lib.allowed("deny_all")
}

actions contains {
	"action": "protect",
	"target": i.id,
	"reason": "turn on termination protection and keep the volumes, so the evidence survives",
} if {
	contain
	some i in instances
	lib.allowed("protect")
}

actions contains {
	"action": "isolate",
	"target": i.id,
	"reason": "replace every network interface's security groups with the isolation group: the attack sequence runs through this instance",
} if {
	contain
	some i in instances
	lib.allowed("isolate")
}

actions contains {
	"action": "snapshot",
	"target": i.id,
	"reason": "snapshot every attached volume for forensics before anything else changes on disk",
} if {
	contain
	some i in instances
	lib.allowed("snapshot")
}

actions contains {
	"action": "notify",
	"target": input.resource.id,
	"reason": sprintf("%s (confidence %s): %s%s", [verdict, lib.decimal(confidence), headline, notes_suffix]),
} if {
	verdict != "benign"
	lib.allowed("notify")
}

headline := s if {
	s := input.verdict.summary
	s != ""
} else := sprintf("%s on %s.", [input.finding.type, input.resource.id])

notes contains sprintf("key %s not disabled: it is temporary; revoke the sessions of the role that issued it", [k.id]) if {
	contain
	some k in lib.finding_keys
	startswith(k.id, "ASIA")
}

notes contains sprintf("not contained, no action for it: %s", [concat(", ", sort(uncontained))]) if {
	contain
	count(uncontained) > 0
}

uncontained := {sprintf("%s %s", [r.type, r.id]) |
	some r in input.finding.resources
	r.id != ""
	not r.type in {"aws_iam_access_key", "aws_iam_user", "aws_iam_role", "aws_instance"}
}

notes_suffix := concat("", [sprintf(" [%s]", [n]) | some n in notes])
