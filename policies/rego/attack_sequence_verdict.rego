# Package cordon.attack_sequence.verdict judges GuardDuty Extended Threat
# Detection's attack sequences (AttackSequence:*): GuardDuty correlated
# several signals (its own findings, CloudTrail calls, runtime events) on
# the same credentials, buckets, instances or clusters into one attack
# (compromised credentials or data, a compromised EKS or ECS cluster or
# instance group).
#
# A sequence at high or critical severity is malicious on GuardDuty's word:
# it raises one only when independent signals line up as an attack. The
# reasons cite the signals, the indicators GuardDuty gives (MITRE ATT&CK
# tactics and techniques, high-risk APIs, Tor or threat-listed addresses)
# and the resources the sequence names, which the response contains where
# cordon has an action for them.
package cordon.attack_sequence.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	lib.at_least("high")
} else := "suspicious"

confidence := 0.9 if {
	verdict == "malicious"
	count(signal_names) > 1
} else := 0.8 if {
	verdict == "malicious"
} else := 0.6

reasons contains sprintf("GuardDuty Extended Threat Detection correlated %d signal(s) into one attack: %s", [count(signals), names_label]) if {
	count(signal_names) > 0
}

reasons contains sprintf("GuardDuty rated the sequence %s (%v of 10) without naming its signals", [input.finding.severity, input.finding.severity_score]) if {
	count(signal_names) == 0
}

reasons contains sprintf("GuardDuty: %s", [headline]) if headline

reasons contains sprintf("indicator %s: %s", [label, values]) if {
	some i in indicators
	label := indicator_label(i)
	values := values_label(lib.field_of(i, "values", "Values"))
}

reasons contains sprintf("the sequence names %s", [concat(", ", resource_labels)]) if {
	count(resource_labels) > 0
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("Attack sequence %s: %s.", [input.finding.type, root_cause])

root_cause := sprintf("an attacker is acting through %s (%d correlated signals)", [concat(", ", resource_labels), count(signals)]) if {
	count(resource_labels) > 0
	verdict == "malicious"
} else := sprintf("an attacker is acting in account %s (%d correlated signals)", [input.finding.account, count(signals)]) if {
	verdict == "malicious"
} else := "undetermined: the sequence is below high severity and needs a responder"

impact := sprintf("everything %s can reach is in the attacker's hands until they are contained: look for what the signals show created, changed or read", [concat(", ", resource_labels)]) if {
	count(resource_labels) > 0
}

# ---------------------------------------------------------------------------
# The sequence (service.detection.sequence; Detection.Sequence in ASFF)

signals := s if {
	lib.from_guardduty
	s := input.finding.raw.service.detection.sequence.signals
} else := s if {
	lib.from_guardduty
	s := input.finding.raw.Service.Detection.Sequence.Signals
} else := s if {
	lib.from_guardduty
	s := input.finding.raw.Detection.Sequence.Signals
} else := []

indicators := i if {
	lib.from_guardduty
	i := input.finding.raw.service.detection.sequence.sequenceIndicators
} else := i if {
	lib.from_guardduty
	i := input.finding.raw.Service.Detection.Sequence.SequenceIndicators
} else := i if {
	lib.from_guardduty
	i := input.finding.raw.Detection.Sequence.SequenceIndicators
} else := []

description := d if {
	lib.from_guardduty
	d := input.finding.raw.service.detection.sequence.description
} else := d if {
	lib.from_guardduty
	d := input.finding.raw.Service.Detection.Sequence.Description
} else := d if {
	lib.from_guardduty
	d := input.finding.raw.Detection.Sequence.Description
}

# headline is the description's first line.
headline := h if {
	lib.non_empty_string(description)
	h := trim_space(split(description, "\n")[0])
	h != ""
}

signal_names := {n |
	some s in signals
	n := lib.field_of(s, "name", "Name")
	lib.non_empty_string(n)
}

# names_label lists the signals' names, the first ten in order.
names_label := sprintf("%s and %d more", [concat(", ", array.slice(sorted, 0, 10)), count(sorted) - 10]) if {
	sorted := sort(signal_names)
	count(sorted) > 10
} else := concat(", ", sort(signal_names))

indicator_label(i) := t if {
	t := lib.field_of(i, "title", "Title")
	lib.non_empty_string(t)
} else := lower(replace(lib.field_of(i, "key", "Key"), "_", " "))

values_label(vs) := concat(", ", sort({v | some v in vs; lib.non_empty_string(v)}))

# ---------------------------------------------------------------------------
# The resources

resource_kinds := {
	"aws_iam_access_key": "access key",
	"aws_iam_user": "IAM user",
	"aws_iam_role": "IAM role",
	"aws_instance": "instance",
	"aws_s3_bucket": "bucket",
	"aws_eks_cluster": "EKS cluster",
	"aws_ecs_cluster": "ECS cluster",
	"container": "container",
}

resource_labels := [sprintf("%s %s", [object.get(kinds, r.type, r.type), r.id]) |
	kinds := resource_kinds
	some r in input.finding.resources
	r.id != ""
]
