# Package cordon.s3.verdict judges findings about S3 buckets: access
# policy changes that expose a bucket (Policy:S3), and access by callers
# GuardDuty distrusts (malicious or Tor addresses, penetration-testing
# distributions, anomalous behaviour), and access logging turned off
# (Stealth:S3).
#
# A caller on a threat list makes it malicious, and cordon.s3.response then
# contains the caller's access key and its user or role. Exposure and unusual access
# are suspicious: public buckets and penetration tests can be intended. A
# bucket tagged cordon:public = "true" is meant to be public, which explains
# a policy finding about it. CloudTrail facts (facts.trail, type
# aws_cloudtrail_events), where collected, say who changed the bucket's
# access and when.
package cordon.s3.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(malicious_evidence) > 0
} else := "benign" if {
	intended_public
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "inconclusive"

confidence := 0.9 if {
	verdict in {"malicious", "benign"}
} else := 0.7 if {
	verdict == "suspicious"
	public
} else := 0.7 if {
	verdict == "suspicious"
	count(suspicious_evidence) > 1
} else := 0.6 if {
	verdict == "suspicious"
} else := 0.5

reasons contains r if some r in evidence

# evidence is what the verdict rests on.
evidence := malicious_evidence | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := {
	sprintf("bucket %s is tagged cordon:public = \"true\": public access is intended", [bucket]),
	sprintf("GuardDuty: %s (%s)", [finding_title, input.finding.type]),
} if {
	verdict == "benign"
} else := {sprintf("GuardDuty reported %s at %s severity, but the finding does not say enough to judge it", [input.finding.type, input.finding.severity])}

reasons contains r if some r in access_changes

reasons contains sprintf("no CloudTrail evidence (%s): who changed the bucket's access was not checked", [lib.gap("trail")]) if {
	not trail
	lib.finding_purpose == "Policy"
}

reasons contains sprintf("the reported call %s was denied (%s): it neither read nor changed data", [lib.api_name, lib.api_error_code]) if {
	lib.api_error_code
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("Bucket %s is being attacked: %s at %s severity.", [bucket, input.finding.type, input.finding.severity]) if {
	verdict == "malicious"
} else := sprintf("Bucket %s needs a responder: %s.", [bucket, finding_title]) if {
	verdict == "suspicious"
} else := sprintf("%s on bucket %s is expected: the bucket is meant to be public.", [input.finding.type, bucket]) if {
	verdict == "benign"
} else := sprintf("%s on bucket %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, bucket])

root_cause := sprintf("%s, operating from %s (threat list %s), has credentials that reach the bucket", [actor_label, caller, concat(", ", lib.threat_lists)]) if {
	verdict == "malicious"
} else := sprintf("%s changed the bucket's access with %s", [actor_label, api_label]) if {
	lib.finding_purpose == "Policy"
} else := "undetermined: the evidence does not show how the caller got access"

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
}

impact_parts contains [1, sprintf("bucket %s is readable or writable by anyone on the internet (effective permission PUBLIC)", [bucket])] if public

impact_parts contains [1, sprintf("bucket %s is not public yet, but nothing at the bucket level stops the next policy or ACL from making it so", [bucket])] if {
	not public
	lib.finding_purpose == "Policy"
}

impact_parts contains [2, sprintf("%s can act on the bucket with %s's permissions", [caller, actor_label])] if {
	lib.finding_purpose != "Policy"
}

impact_parts contains [3, sprintf("the caller's key %s is disabled; the bucket itself (its policy, ACLs, Block Public Access) is contained by hand", [caller_key.id])] if {
	verdict == "malicious"
	caller_key
}

impact_parts contains [3, "cordon has no action for S3 buckets: containment is manual"] if {
	not verdict == "malicious"
}

impact_parts contains [3, "cordon has no action for S3 buckets: containment is manual"] if {
	not caller_key
}

# ---------------------------------------------------------------------------
# Evidence

malicious_evidence contains sprintf("GuardDuty: %s called %s on bucket %s from %s, which is on threat list %s%s", [actor_label, api_label, bucket, caller, list, threat_names_suffix]) if {
	some list in lib.threat_lists
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s from %s: %s", [actor_label, api_label, caller, finding_title]) if {
	lib.finding_purpose == "Policy"
}

suspicious_evidence contains sprintf("bucket %s is public now (effective permission PUBLIC)", [bucket]) if public

suspicious_evidence contains sprintf("GuardDuty: %s called %s on bucket %s from a host running %s, a penetration-testing distribution: confirm whether a test is authorized", [actor_label, api_label, bucket, lib.finding_threat]) if {
	lib.finding_purpose == "PenTest"
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s on bucket %s through the Tor network (exit node %s)", [actor_label, api_label, bucket, caller]) if {
	startswith(lib.finding_threat, "TorIPCaller")
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s on bucket %s from %s, an address GuardDuty considers malicious, but the finding names no threat list", [actor_label, api_label, bucket, caller]) if {
	startswith(lib.finding_threat, "MaliciousIPCaller")
	count(lib.threat_lists) == 0
}

suspicious_evidence contains sprintf("GuardDuty: %s made %s calls on bucket %s unlike its history (%s)", [actor_label, lib.finding_purpose, bucket, finding_title]) if {
	startswith(lib.finding_threat, "AnomalousBehavior")
}

suspicious_evidence contains sprintf("GuardDuty: %s turned off server access logging of bucket %s with %s: with it off, reads of the bucket leave no access log", [actor_label, bucket, api_label]) if {
	lib.finding_purpose == "Stealth"
}

# access_changes are CloudTrail's record of who changed the bucket's access.
access_changes contains sprintf("CloudTrail: %s by %s from %s at %s%s", [e.event_name, object.get(e, "user", "?"), object.get(e, "source_ip", "?"), object.get(e, "time", "?"), outcome(e)]) if {
	calls := lib.public_access_calls
	some e in trail.events
	e.event_name in calls
}

outcome(e) := "" if {
	lib.succeeded(e)
} else := sprintf(" (denied: %s)", [e.error_code])

# ---------------------------------------------------------------------------
# The bucket and the caller

bucket := input.resource.id if {
	input.resource.type == "aws_s3_bucket"
} else := "(the account's buckets)"

# caller_key is the access key the caller used, where the finding names it
# and cordon can disable it (cordon.s3.response does, on a malicious
# verdict).
caller_key := ks[0] if {
	ks := [k | some k in lib.finding_keys; lib.long_term_key(k)]
	count(ks) > 0
}

intended_public if {
	input.resource.tags["cordon:public"] == "true"
	lib.finding_purpose == "Policy"
}

# bucket_detail is GuardDuty's raw entry for this bucket (another product's
# raw finding is not read for GuardDuty's fields: see lib.from_guardduty).
bucket_detail := bs[0] if {
	bs := [b |
		some b in s3_bucket_details
		lib.field(b, "name") == bucket
	]
	count(bs) > 0
}

s3_bucket_details := d if {
	lib.from_guardduty
	d := input.finding.raw.resource.s3BucketDetails
} else := d if {
	lib.from_guardduty
	d := input.finding.raw.Resource.S3BucketDetails
}

effective_permission := p if {
	p := input.resource.details.public_access.effective_permission
} else := p if {
	p := lib.field(lib.field(bucket_detail, "publicAccess"), "effectivePermission")
}

public if {
	lib.non_empty_string(effective_permission)
	upper(effective_permission) == "PUBLIC"
}

actor_label := sprintf("%s (key %s)", [input.finding.actor.user, input.finding.actor.access_key_id]) if {
	input.finding.actor.user != ""
	input.finding.actor.access_key_id != ""
} else := u if {
	u := input.finding.actor.user
	u != ""
} else := u if {
	lib.from_guardduty
	u := input.finding.raw.resource.accessKeyDetails.userName
	lib.non_empty_string(u)
} else := u if {
	lib.from_guardduty
	u := input.finding.raw.Resource.AccessKeyDetails.UserName
	lib.non_empty_string(u)
} else := "an unknown caller"

caller := ip if {
	ip := lib.remote_ip
} else := "an unknown address"

api_label := lib.api_name if {
	lib.non_empty_string(lib.api_name)
} else := "the S3 API"

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""

trail := input.facts.trail if lib.usable("trail")
