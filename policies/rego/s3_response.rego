# Package cordon.s3.response chooses the response to an S3 verdict
# (cordon.s3.verdict). No action type acts on buckets (SPEC §6), so every
# verdict but benign notifies, and the notification says what a responder
# should do by hand.
package cordon.s3.response

import data.cordon.lib

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

bucket := input.resource.id

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
} else := "disable the caller's access key and review the bucket's policy, ACLs and recent object changes (S3 data events, versioning)." if {
	verdict == "malicious"
} else := "confirm with the caller's owner whether the access was expected; if not, disable their key and review the bucket's access."
