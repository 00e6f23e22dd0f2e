# Package cordon.s3.response chooses the response to an S3 verdict
# (cordon.s3.verdict), from the actions the matched rule allows:
#
#   malicious     disable_key (the caller's long-term key), deny_all (its
#                 user or role), notify
#   suspicious    notify
#   inconclusive  notify
#   benign        nothing
#
# No action type acts on buckets (cordon's docs/actions.md): what the
# bucket needs is said in the notification. What cordon can contain is the
# caller: GuardDuty's S3 findings name the access key that made the calls
# (the finding's aws_iam_access_key resource, and its user or role), and
# on a malicious verdict (a caller on a threat list) that key is in
# someone else's hands.
# As for IAM findings, a suspicion (Tor, anomalous behaviour, a
# penetration-testing distribution, a policy change) contains nothing: the
# caller may be the key's owner.
package cordon.s3.response

import data.cordon.lib

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

bucket := input.resource.id

contain if verdict == "malicious"

actions contains {
	"action": "disable_key",
	"target": k.id,
	"reason": sprintf("deactivate access key %s (reversible): the caller GuardDuty saw on bucket %s uses it", [k.id, bucket]),
} if {
	contain
	some k in lib.finding_keys
	lib.long_term_key(k)
	lib.allowed("disable_key")
}

actions contains {
	"action": "deny_all",
	"target": p.id,
	"reason": deny_reason(p),
} if {
	contain
	some p in lib.finding_principals
	lib.allowed("deny_all")
}

# contained names the credentials the actions above contain.
contained := {sprintf("key %s", [k.id]) |
	some k in lib.finding_keys
	lib.long_term_key(k)
	lib.allowed("disable_key")
} | {sprintf("%s %s", [trim_prefix(p.type, "aws_iam_"), p.id]) |
	some p in lib.finding_principals
	lib.allowed("deny_all")
}

deny_reason(p) := "deny every session of the role issued before now: the stolen temporary credentials stop working, and legitimate holders get fresh ones" if {
	p.type == "aws_iam_role"
} else := "attach a deny-all policy to the user, so none of its other keys or console sessions can be used either"

actions contains {
	"action": "notify",
	"target": bucket,
	"reason": sprintf("%s (confidence %s): %s Next: %s", [verdict, lib.decimal(confidence), headline, next_step]),
} if {
	verdict != "benign"
	lib.allowed("notify")
}

headline := s if {
	s := input.verdict.summary
	s != ""
} else := sprintf("%s on bucket %s.", [input.finding.type, bucket])

# next_step is the manual containment for the finding's kind.
next_step := sprintf("restore Block Public Access (aws s3api put-public-access-block --bucket %s --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true) unless the exposure is intended, then tag the bucket cordon:public = \"true\".", [bucket]) if {
	lib.finding_purpose == "Policy"
} else := sprintf("review the bucket's policy, ACLs and recent object changes (S3 data events, versioning); cordon contains %s.", [concat(" and ", sort(contained))]) if {
	verdict == "malicious"
	count(contained) > 0
} else := "disable the caller's access key and review the bucket's policy, ACLs and recent object changes (S3 data events, versioning)." if {
	verdict == "malicious"
} else := "confirm with the caller's owner whether the access was expected; if not, disable their key and review the bucket's access."
